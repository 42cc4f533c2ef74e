using System.Text.Json;
using Audit.Domain.Audits;
using Audit.Domain.Profiles;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>A row of the audits table: what queries read. Status changes go through the <see cref="Domain.Audits.Audit"/> aggregate.</summary>
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

    /// <summary>The status as the domain type; rows only ever hold wire names of <see cref="AuditStatus"/>.</summary>
    public AuditStatus State => AuditStatusRules.ParseWire(Status) ?? throw new InvalidOperationException($"Unknown audit status '{Status}'.");

    /// <summary>The exact profile the audit was submitted against (its stored copy, not the current version).</summary>
    public Profile Profile() => JsonSerializer.Deserialize<Profile>(ProfileJson, Domain.Profiles.ProfileHash.CanonicalJson)!;
}

/// <summary>A row of the findings table.</summary>
public sealed record FindingRow(long Seq, string ControlId, string Probe, string Verdict, double? Score, string Summary, string DetailsJson);

/// <summary>A row of the control_results table.</summary>
public sealed record ControlResultRow(string ControlId, string Verdict, string Reason);

/// <summary>A row of the evidence table: one file a probe produced, stored by content in the blob store.</summary>
public sealed record EvidenceRow(string Id, string AuditId, string TenantId, long Seq, string Name, string MediaType, string? Caption, string Sha256, long SizeBytes)
{
    public const string Columns =
        "id AS Id, audit_id AS AuditId, tenant_id AS TenantId, seq AS Seq, name AS Name, media_type AS MediaType, caption AS Caption, sha256 AS Sha256, size_bytes AS SizeBytes";
}
