using Audit.Domain.Findings;

namespace Audit.Domain.Profiles;

/// <summary>A control's verdict with the reason a compliance officer can repeat.</summary>
public sealed record ControlResult(string ControlId, Verdict Verdict, string Reason);

/// <summary>How findings become control verdicts and control verdicts an audit verdict.</summary>
public static class ControlVerdicts
{
    /// <summary>Combines one control's findings by its rule. No findings means nothing was measured: inconclusive.</summary>
    public static ControlResult Combine(Control control, IReadOnlyList<Finding> findings)
    {
        if (findings.Count == 0)
        {
            return new ControlResult(control.Id, Verdict.Inconclusive, "No probe produced a finding for this control.");
        }

        int fail = findings.Count(f => f.Verdict == Verdict.Fail);
        int pass = findings.Count(f => f.Verdict == Verdict.Pass);
        int inconclusive = findings.Count - fail - pass;
        string tally = $"{pass} passed, {fail} failed, {inconclusive} inconclusive of {findings.Count}";

        Verdict verdict = control.Combine switch
        {
            CombineRule.AnyFail => fail > 0 ? Verdict.Fail : inconclusive > 0 ? Verdict.Inconclusive : Verdict.Pass,
            CombineRule.Majority => 2 * fail > findings.Count ? Verdict.Fail
                : 2 * pass > findings.Count ? Verdict.Pass : Verdict.Inconclusive,
            CombineRule.AllPass => pass == findings.Count ? Verdict.Pass
                : fail == findings.Count ? Verdict.Fail : Verdict.Inconclusive,
            _ => Verdict.Inconclusive,
        };

        string rule = control.Combine switch
        {
            CombineRule.AnyFail => "any failing finding fails the control",
            CombineRule.Majority => "the majority of findings decides",
            _ => "all findings must agree",
        };

        string reason = verdict switch
        {
            Verdict.Fail => $"Failed ({tally}; {rule}): " + string.Join(" ", findings.Where(f => f.Verdict == Verdict.Fail).Select(f => $"[{f.Probe}] {f.Summary}")),
            Verdict.Pass => $"Passed ({tally}; {rule}).",
            _ => $"Inconclusive ({tally}; {rule})." + string.Concat(findings.Where(f => f.Verdict == Verdict.Inconclusive).Select(f => $" [{f.Probe}] {f.Summary}")),
        };
        return new ControlResult(control.Id, verdict, reason);
    }

    /// <summary>A control whose required evidence was not supplied is inconclusive; its probes are not run.</summary>
    public static ControlResult MissingEvidence(Control control, IEnumerable<EvidenceRequirement> missing) =>
        new(control.Id, Verdict.Inconclusive,
            "Inconclusive: required evidence not supplied (" + string.Join(", ", missing.Select(EvidenceName)) + ").");

    /// <summary>The audit verdict: any failed control fails it; otherwise any inconclusive one makes it inconclusive.</summary>
    public static Verdict Overall(IReadOnlyCollection<ControlResult> controls)
    {
        if (controls.Count == 0)
        {
            return Verdict.Inconclusive;
        }

        if (controls.Any(c => c.Verdict == Verdict.Fail))
        {
            return Verdict.Fail;
        }

        return controls.Any(c => c.Verdict == Verdict.Inconclusive) ? Verdict.Inconclusive : Verdict.Pass;
    }

    /// <summary>The evidence name as written in profiles.</summary>
    public static string EvidenceName(EvidenceRequirement evidence) => evidence switch
    {
        EvidenceRequirement.Dataset => "dataset",
        EvidenceRequirement.LabelledDataset => "labelled-dataset",
        _ => "sequence-prompts",
    };
}
