using System.Text.Json.Nodes;
using Audit.Domain.Findings;

namespace Audit.Evaluators.Probes;

/// <summary>What a probe found.</summary>
/// <param name="Verdict">Fail when <paramref name="Score"/> ≥ 1; inconclusive when it could not measure.</param>
/// <param name="Score">Statistic normalised by the threshold so that ≥ 1 means flagged; null when nothing was measured.</param>
/// <param name="Summary">One sentence for a compliance officer.</param>
/// <param name="Details">Figures: at least <c>statistic</c> and <c>threshold</c>; <c>suspectedTargetClass</c> where it applies.</param>
/// <param name="Evidence">Images and data a person can look at (PNG masks, histograms as numbers).</param>
public sealed record ProbeOutcome(
    Verdict Verdict,
    double? Score,
    string Summary,
    JsonObject Details,
    IReadOnlyList<EvidenceFile> Evidence)
{
    /// <summary>An outcome for a probe that could not measure anything.</summary>
    public static ProbeOutcome Inconclusive(string reason) =>
        new(Verdict.Inconclusive, null, reason, new JsonObject { ["reason"] = reason }, []);
}

/// <summary>A file of evidence attached to a finding (e.g. a recovered trigger mask as PNG).</summary>
public sealed record EvidenceFile(string Name, string MediaType, string Caption, byte[] Content);
