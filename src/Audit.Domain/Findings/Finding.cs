using System.Text.Json.Nodes;

namespace Audit.Domain.Findings;

/// <summary>What one probe reported for one control of an audit.</summary>
/// <param name="ControlId">The profile control that asked for the probe.</param>
/// <param name="Probe">The probe's registered name, e.g. <c>neural-cleanse</c>.</param>
/// <param name="Verdict">Pass, fail or inconclusive.</param>
/// <param name="Score">The probe's statistic divided by its flag threshold: ≥ 1 means flagged. Null when nothing was measured.</param>
/// <param name="Summary">One sentence a compliance officer can read.</param>
/// <param name="Details">Probe-specific figures (statistic, threshold, suspected target class, ...).</param>
/// <param name="Role">Whether it counts in its control's verdict or is supporting evidence only (the profile's probe role).</param>
public sealed record Finding(
    string ControlId,
    string Probe,
    Verdict Verdict,
    double? Score,
    string Summary,
    JsonObject Details,
    Profiles.VerdictRole Role = Profiles.VerdictRole.Verdict);
