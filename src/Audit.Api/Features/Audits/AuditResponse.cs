using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;

namespace Audit.Api.Features.Audits;

/// <summary>An audit as clients see it.</summary>
public sealed record AuditResponse(
    string Id,
    string Status,
    double Progress,
    string ModelArtifactId,
    string? DatasetArtifactId,
    ProfileReference Profile,
    string? Verdict,
    string? Device,
    long Seed,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    IReadOnlyList<ControlResponse> Controls,
    IReadOnlyList<FindingResponse> Findings,
    string? Error)
{
    public static AuditResponse From(AuditRow row, IReadOnlyList<ControlResultRow> controls, IReadOnlyList<FindingRow> findings) => new(
        row.Id,
        row.State.ToWire(),
        row.Progress,
        row.ModelArtifactId,
        row.DatasetArtifactId,
        new ProfileReference(row.ProfileId, row.ProfileVersion, row.ProfileHash),
        row.Verdict,
        row.Device,
        row.Seed,
        Parse(row.CreatedAt)!.Value,
        Parse(row.StartedAt),
        Parse(row.FinishedAt),
        controls.Select(c => new ControlResponse(c.ControlId, c.Verdict, c.Reason)).ToList(),
        findings.Select(f => new FindingResponse(f.ControlId, f.Probe, f.Verdict, f.Score, f.Summary, JsonNode.Parse(f.DetailsJson))).ToList(),
        // Stored errors may quote an exception that named a server path; the client sees the file name only.
        Infrastructure.Errors.ServerPaths.Redact(row.Error));

    private static DateTimeOffset? Parse(string? value) =>
        value is null ? null : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}

/// <summary>The exact profile version an audit ran, with its content hash.</summary>
public sealed record ProfileReference(string Id, string Version, string ContentHash);

/// <summary>A control's verdict and reason.</summary>
public sealed record ControlResponse(string ControlId, string Verdict, string Reason);

/// <summary>One finding: score is the probe's statistic divided by its flag threshold (≥ 1 = flagged).</summary>
public sealed record FindingResponse(string ControlId, string Probe, string Verdict, double? Score, string Summary, JsonNode? Details);

/// <summary>A page of audits.</summary>
public sealed record AuditPage(IReadOnlyList<AuditResponse> Items, int Page, int PageSize, long Total);
