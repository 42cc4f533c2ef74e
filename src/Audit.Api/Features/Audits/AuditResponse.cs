using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;
using Audit.Domain.Profiles;

namespace Audit.Api.Features.Audits;

/// <summary>An audit as clients see it.</summary>
public sealed record AuditResponse(
    string Id,
    string Status,
    double Progress,
    string? CurrentStep,
    double? EtaSeconds,
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
    /// <summary>The response for <paramref name="row"/>; <paramref name="now"/> turns the stored estimated end into seconds left.</summary>
    public static AuditResponse From(AuditRow row, IReadOnlyList<ControlResultRow> controls, IReadOnlyList<FindingRow> findings, DateTimeOffset now) => new(
        row.Id,
        row.State.ToWire(),
        row.Progress,
        row.CurrentStep,
        SecondsLeft(row, now),
        row.ModelArtifactId,
        row.DatasetArtifactId,
        new ProfileReference(row.ProfileId, row.ProfileVersion, row.ProfileHash),
        row.Verdict,
        row.Device,
        row.Seed,
        Parse(row.CreatedAt)!.Value,
        Parse(row.StartedAt),
        Parse(row.FinishedAt),
        ControlResponse.ListFrom(controls, row.Profile()),
        FindingResponse.ListFrom(findings, row.Profile()),
        // Stored errors may quote an exception that named a server path; the client sees the file name only.
        Infrastructure.Errors.ServerPaths.Redact(row.Error));

    /// <summary>Seconds until the estimated end, never negative (an overrun reads 0 until the next estimate).</summary>
    private static double? SecondsLeft(AuditRow row, DateTimeOffset now) =>
        Parse(row.EtaAt) is { } eta ? Math.Round(Math.Max(0, (eta - now).TotalSeconds), 1) : null;

    private static DateTimeOffset? Parse(string? value) =>
        value is null ? null : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}

/// <summary>The exact profile version an audit ran, with its content hash.</summary>
public sealed record ProfileReference(string Id, string Version, string ContentHash);

/// <summary>
/// A control's verdict and reason; <c>role</c> <c>supporting</c> marks a control whose verdict is reported but does
/// not decide the audit's.
/// </summary>
public sealed record ControlResponse(string ControlId, string Verdict, string Reason, string Role = "verdict")
{
    /// <summary>The stored control results with each control's role read from the audit's copy of its profile.</summary>
    public static List<ControlResponse> ListFrom(IEnumerable<ControlResultRow> rows, Profile profile) =>
        [.. rows.Select(c => new ControlResponse(c.ControlId, c.Verdict, c.Reason, ControlVerdicts.RoleName(ControlVerdicts.ControlRole(profile, c.ControlId))))];
}

/// <summary>
/// One finding: score is the probe's statistic divided by its flag threshold (≥ 1 = flagged); <c>role</c>
/// <c>supporting</c> marks evidence that is reported but not counted in its control's verdict.
/// </summary>
public sealed record FindingResponse(string ControlId, string Probe, string Verdict, double? Score, string Summary, JsonNode? Details, string Role = "verdict")
{
    /// <summary>The stored findings (in recorded order) with each one's role read from the audit's copy of its profile.</summary>
    public static List<FindingResponse> ListFrom(IReadOnlyList<FindingRow> rows, Profile profile)
    {
        IReadOnlyList<VerdictRole> roles = ControlVerdicts.FindingRoles(profile, rows.Select(f => f.ControlId));
        return [.. rows.Select((f, i) => new FindingResponse(f.ControlId, f.Probe, f.Verdict, f.Score, f.Summary, JsonNode.Parse(f.DetailsJson), ControlVerdicts.RoleName(roles[i])))];
    }
}

/// <summary>A page of audits.</summary>
public sealed record AuditPage(IReadOnlyList<AuditResponse> Items, int Page, int PageSize, long Total);
