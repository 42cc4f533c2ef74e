using Audit.Domain.Findings;

namespace Audit.Domain.Profiles;

/// <summary>A control's verdict with the reason a compliance officer can repeat.</summary>
/// <param name="ControlId">The profile control.</param>
/// <param name="Verdict">What its deciding findings add up to.</param>
/// <param name="Reason">Why, with the supporting findings named apart.</param>
/// <param name="Role">The control's role: a supporting control's verdict is reported but does not decide the audit's.</param>
public sealed record ControlResult(string ControlId, Verdict Verdict, string Reason, VerdictRole Role = VerdictRole.Verdict);

/// <summary>How findings become control verdicts and control verdicts an audit verdict.</summary>
public static class ControlVerdicts
{
    /// <summary>
    /// Combines one control's findings by its rule. Only findings of probes with the verdict role count; supporting
    /// findings are named in the reason and change nothing. No deciding finding means nothing was measured that
    /// could decide: inconclusive.
    /// </summary>
    public static ControlResult Combine(Control control, IReadOnlyList<Finding> findings)
    {
        var deciding = findings.Where(f => f.Role == VerdictRole.Verdict).ToList();
        string supporting = SupportingNote(findings.Where(f => f.Role == VerdictRole.Supporting).ToList());
        if (deciding.Count == 0)
        {
            return new ControlResult(control.Id, Verdict.Inconclusive, RolePrefix(control) + "No probe produced a finding that decides this control." + supporting, control.Role);
        }

        int fail = deciding.Count(f => f.Verdict == Verdict.Fail);
        int pass = deciding.Count(f => f.Verdict == Verdict.Pass);
        int inconclusive = deciding.Count - fail - pass;
        string tally = $"{pass} passed, {fail} failed, {inconclusive} inconclusive of {deciding.Count}";

        Verdict verdict = control.Combine switch
        {
            CombineRule.AnyFail => fail > 0 ? Verdict.Fail : inconclusive > 0 ? Verdict.Inconclusive : Verdict.Pass,
            CombineRule.Majority => 2 * fail > deciding.Count ? Verdict.Fail
                : 2 * pass > deciding.Count ? Verdict.Pass : Verdict.Inconclusive,
            CombineRule.AllPass => pass == deciding.Count ? Verdict.Pass
                : fail == deciding.Count ? Verdict.Fail : Verdict.Inconclusive,
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
            Verdict.Fail => $"Failed ({tally}; {rule}): " + string.Join(" ", deciding.Where(f => f.Verdict == Verdict.Fail).Select(f => $"[{f.Probe}] {f.Summary}")),
            Verdict.Pass => $"Passed ({tally}; {rule}).",
            _ => $"Inconclusive ({tally}; {rule})." + string.Concat(deciding.Where(f => f.Verdict == Verdict.Inconclusive).Select(f => $" [{f.Probe}] {f.Summary}")),
        };
        return new ControlResult(control.Id, verdict, RolePrefix(control) + reason + supporting, control.Role);
    }

    /// <summary>Supporting findings by probe and verdict: shown with the reason so nobody mistakes them for the decision.</summary>
    private static string SupportingNote(List<Finding> supporting) =>
        supporting.Count == 0 ? ""
        : " Supporting evidence, not counted in the verdict: " + string.Join(", ", supporting.Select(f => $"[{f.Probe}] {VerdictName(f.Verdict)}")) + ".";

    private static string RolePrefix(Control control) =>
        control.Role == VerdictRole.Supporting ? "Supporting control (reported, not counted in the audit's verdict). " : "";

    private static string VerdictName(Verdict verdict) => verdict switch
    {
        Verdict.Pass => "pass",
        Verdict.Fail => "fail",
        _ => "inconclusive",
    };

    /// <summary>A control whose required evidence was not supplied is inconclusive; its probes are not run.</summary>
    public static ControlResult MissingEvidence(Control control, IEnumerable<EvidenceRequirement> missing) =>
        new(control.Id, Verdict.Inconclusive,
            RolePrefix(control) + "Inconclusive: required evidence not supplied (" + string.Join(", ", missing.Select(EvidenceName)) + ").",
            control.Role);

    /// <summary>
    /// The audit verdict from the controls with the verdict role (supporting controls never change it): any failed
    /// control fails it; otherwise any inconclusive one makes it inconclusive. No deciding control: inconclusive.
    /// </summary>
    public static Verdict Overall(IReadOnlyCollection<ControlResult> results)
    {
        var controls = results.Where(c => c.Role == VerdictRole.Verdict).ToList();
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

    /// <summary>
    /// The role of each of an audit's stored findings, in their recorded order: the k-th finding of a control is its
    /// k-th probe's (the worker runs every probe of a control, in order, and records one finding each), so the role
    /// is read from the audit's own copy of the profile rather than stored twice.
    /// </summary>
    public static IReadOnlyList<VerdictRole> FindingRoles(Profile profile, IEnumerable<string> findingControlIds)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        var roles = new List<VerdictRole>();
        foreach (string controlId in findingControlIds)
        {
            int index = seen.TryGetValue(controlId, out int n) ? n : 0;
            seen[controlId] = index + 1;
            Control? control = profile.Controls.FirstOrDefault(c => c.Id == controlId);
            roles.Add(control is not null && index < control.Probes.Count ? control.Probes[index].Role : VerdictRole.Verdict);
        }

        return roles;
    }

    /// <summary>The role of a control of the profile (verdict when the profile has no such control).</summary>
    public static VerdictRole ControlRole(Profile profile, string controlId) =>
        profile?.Controls.FirstOrDefault(c => c.Id == controlId)?.Role ?? VerdictRole.Verdict;

    /// <summary>The role as written in profiles and API responses.</summary>
    public static string RoleName(VerdictRole role) => role == VerdictRole.Supporting ? "supporting" : "verdict";

    /// <summary>The evidence name as written in profiles.</summary>
    public static string EvidenceName(EvidenceRequirement evidence) => evidence switch
    {
        EvidenceRequirement.Dataset => "dataset",
        EvidenceRequirement.LabelledDataset => "labelled-dataset",
        _ => "sequence-prompts",
    };
}
