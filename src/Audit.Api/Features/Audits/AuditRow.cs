namespace Audit.Api.Features.Audits;

/// <summary>A row of the audits table.</summary>
public sealed record AuditRow
{
    public const string Columns =
        "id AS Id, tenant_id AS TenantId, model_artifact_id AS ModelArtifactId, dataset_artifact_id AS DatasetArtifactId, " +
        "profile_id AS ProfileId, profile_version AS ProfileVersion, profile_hash AS ProfileHash, profile_json AS ProfileJson, " +
        "status AS Status, progress AS Progress, verdict AS Verdict, error AS Error, device AS Device, seed AS Seed, " +
        "idempotency_key AS IdempotencyKey, request_hash AS RequestHash, created_at AS CreatedAt, started_at AS StartedAt, " +
        "finished_at AS FinishedAt, attempts AS Attempts, cancel_requested AS CancelRequested";

    public required string Id { get; init; }
    public required string TenantId { get; init; }
    public required string ModelArtifactId { get; init; }
    public string? DatasetArtifactId { get; init; }
    public required string ProfileId { get; init; }
    public required string ProfileVersion { get; init; }
    public required string ProfileHash { get; init; }
    public required string ProfileJson { get; init; }
    public required string Status { get; init; }
    public double Progress { get; init; }
    public string? Verdict { get; init; }
    public string? Error { get; init; }
    public string? Device { get; init; }
    public long Seed { get; init; }
    public string? IdempotencyKey { get; init; }
    public required string RequestHash { get; init; }
    public required string CreatedAt { get; init; }
    public string? StartedAt { get; init; }
    public string? FinishedAt { get; init; }
    public long Attempts { get; init; }
    public long CancelRequested { get; init; }
}

/// <summary>A row of the findings table.</summary>
public sealed record FindingRow(long Seq, string ControlId, string Probe, string Verdict, double? Score, string Summary, string DetailsJson);

/// <summary>A row of the control_results table.</summary>
public sealed record ControlResultRow(string ControlId, string Verdict, string Reason);
