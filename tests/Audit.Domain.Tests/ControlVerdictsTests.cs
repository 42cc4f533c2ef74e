using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;

namespace Audit.Domain.Tests;

public sealed class ControlVerdictsTests
{
    private static Control ControlWith(CombineRule rule) =>
        new("c", "Clause", "Title", [], [], rule);

    private static List<Finding> Findings(string verdicts) =>
        verdicts.Select((v, i) => new Finding("c", $"probe-{i}", v switch
        {
            'P' => Verdict.Pass,
            'F' => Verdict.Fail,
            _ => Verdict.Inconclusive,
        }, v == 'I' ? null : 0.5, $"finding {i}", new JsonObject())).ToList();

    // P = pass, F = fail, I = inconclusive; one character per finding.
    [Theory]
    [InlineData(CombineRule.AnyFail, "P", Verdict.Pass)]
    [InlineData(CombineRule.AnyFail, "PPP", Verdict.Pass)]
    [InlineData(CombineRule.AnyFail, "PPF", Verdict.Fail)]
    [InlineData(CombineRule.AnyFail, "PIF", Verdict.Fail)]
    [InlineData(CombineRule.AnyFail, "PPI", Verdict.Inconclusive)]
    [InlineData(CombineRule.AnyFail, "I", Verdict.Inconclusive)]
    [InlineData(CombineRule.Majority, "PPF", Verdict.Pass)]
    [InlineData(CombineRule.Majority, "PFF", Verdict.Fail)]
    [InlineData(CombineRule.Majority, "PF", Verdict.Inconclusive)]
    [InlineData(CombineRule.Majority, "PPII", Verdict.Inconclusive)]
    [InlineData(CombineRule.Majority, "PPPI", Verdict.Pass)]
    [InlineData(CombineRule.Majority, "FFI", Verdict.Fail)]
    [InlineData(CombineRule.AllPass, "PPP", Verdict.Pass)]
    [InlineData(CombineRule.AllPass, "FFF", Verdict.Fail)]
    [InlineData(CombineRule.AllPass, "PPF", Verdict.Inconclusive)]
    [InlineData(CombineRule.AllPass, "PPI", Verdict.Inconclusive)]
    [InlineData(CombineRule.AllPass, "FI", Verdict.Inconclusive)]
    public void Combine_FollowsTheControlsRule(CombineRule rule, string findings, Verdict expected)
    {
        ControlResult result = ControlVerdicts.Combine(ControlWith(rule), Findings(findings));

        Assert.Equal(expected, result.Verdict);
        Assert.False(string.IsNullOrWhiteSpace(result.Reason));
    }

    [Theory]
    [InlineData(CombineRule.AnyFail)]
    [InlineData(CombineRule.Majority)]
    [InlineData(CombineRule.AllPass)]
    public void Combine_WithNoFindings_IsNeverPass(CombineRule rule)
    {
        Assert.Equal(Verdict.Inconclusive, ControlVerdicts.Combine(ControlWith(rule), []).Verdict);
    }

    [Fact]
    public void Combine_FailingControl_ReasonNamesTheFailingProbe()
    {
        ControlResult result = ControlVerdicts.Combine(ControlWith(CombineRule.AnyFail), Findings("PF"));

        Assert.Contains("probe-1", result.Reason, StringComparison.Ordinal);
        Assert.DoesNotContain("[probe-0]", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingEvidence_IsInconclusiveAndNamesTheEvidence()
    {
        ControlResult result = ControlVerdicts.MissingEvidence(ControlWith(CombineRule.AnyFail), [EvidenceRequirement.LabelledDataset]);

        Assert.Equal(Verdict.Inconclusive, result.Verdict);
        Assert.Contains("labelled-dataset", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", Verdict.Inconclusive)]
    [InlineData("P", Verdict.Pass)]
    [InlineData("PPP", Verdict.Pass)]
    [InlineData("PIP", Verdict.Inconclusive)]
    [InlineData("PIF", Verdict.Fail)]
    [InlineData("F", Verdict.Fail)]
    [InlineData("II", Verdict.Inconclusive)]
    public void Overall_AnyFailFails_ThenAnyInconclusive(string controls, Verdict expected)
    {
        var results = controls.Select((v, i) => new ControlResult($"c{i}", v switch
        {
            'P' => Verdict.Pass,
            'F' => Verdict.Fail,
            _ => Verdict.Inconclusive,
        }, "reason")).ToList();

        Assert.Equal(expected, ControlVerdicts.Overall(results));
    }

    // Lower-case letters are supporting findings (p, f, i): recorded, never counted.
    private static List<Finding> WithRoles(string verdicts) =>
        verdicts.Select((v, i) => new Finding("c", $"probe-{i}", char.ToUpperInvariant(v) switch
        {
            'P' => Verdict.Pass,
            'F' => Verdict.Fail,
            _ => Verdict.Inconclusive,
        }, 0.5, $"finding {i}", new JsonObject(), char.IsLower(v) ? VerdictRole.Supporting : VerdictRole.Verdict)).ToList();

    [Theory]
    [InlineData(CombineRule.AnyFail, "Pf", Verdict.Pass)]
    [InlineData(CombineRule.AnyFail, "Pfff", Verdict.Pass)]
    [InlineData(CombineRule.AnyFail, "Pi", Verdict.Pass)]
    [InlineData(CombineRule.AnyFail, "Fp", Verdict.Fail)]
    [InlineData(CombineRule.AnyFail, "Ip", Verdict.Inconclusive)]
    [InlineData(CombineRule.AnyFail, "fp", Verdict.Inconclusive)]
    [InlineData(CombineRule.Majority, "PFf", Verdict.Inconclusive)]
    [InlineData(CombineRule.Majority, "PPFff", Verdict.Pass)]
    [InlineData(CombineRule.AllPass, "PPf", Verdict.Pass)]
    [InlineData(CombineRule.AllPass, "FFp", Verdict.Fail)]
    public void Combine_CountsOnlyVerdictFindings(CombineRule rule, string findings, Verdict expected)
    {
        ControlResult result = ControlVerdicts.Combine(ControlWith(rule), WithRoles(findings));

        Assert.Equal(expected, result.Verdict);
    }

    [Fact]
    public void Combine_NamesSupportingFindingsApartFromTheDecision()
    {
        ControlResult result = ControlVerdicts.Combine(ControlWith(CombineRule.AnyFail), WithRoles("Pf"));

        Assert.StartsWith("Passed (1 passed, 0 failed, 0 inconclusive of 1;", result.Reason, StringComparison.Ordinal);
        Assert.Contains("Supporting evidence, not counted in the verdict: [probe-1] fail.", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Combine_OfASupportingControl_CarriesItsRoleIntoTheResult()
    {
        Control supporting = ControlWith(CombineRule.AnyFail) with { Role = VerdictRole.Supporting };

        ControlResult failed = ControlVerdicts.Combine(supporting, Findings("F"));
        ControlResult missing = ControlVerdicts.MissingEvidence(supporting, [EvidenceRequirement.Dataset]);

        Assert.Equal((Verdict.Fail, VerdictRole.Supporting), (failed.Verdict, failed.Role));
        Assert.StartsWith("Supporting control", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(VerdictRole.Supporting, missing.Role);
    }

    // Upper case: verdict controls; lower case: supporting controls (never change the audit's verdict).
    [Theory]
    [InlineData("Pf", Verdict.Pass)]
    [InlineData("Pi", Verdict.Pass)]
    [InlineData("Fp", Verdict.Fail)]
    [InlineData("Ip", Verdict.Inconclusive)]
    [InlineData("PPff", Verdict.Pass)]
    [InlineData("f", Verdict.Inconclusive)]
    [InlineData("p", Verdict.Inconclusive)]
    public void Overall_IgnoresSupportingControls(string controls, Verdict expected)
    {
        var results = controls.Select((v, i) => new ControlResult($"c{i}", char.ToUpperInvariant(v) switch
        {
            'P' => Verdict.Pass,
            'F' => Verdict.Fail,
            _ => Verdict.Inconclusive,
        }, "reason", char.IsLower(v) ? VerdictRole.Supporting : VerdictRole.Verdict)).ToList();

        Assert.Equal(expected, ControlVerdicts.Overall(results));
    }

    [Fact]
    public void FindingRoles_FollowTheProfilesProbeOrderWithinEachControl()
    {
        var probe = (string name, VerdictRole role) => new ProbeRequirement(name, new Dictionary<string, System.Text.Json.JsonElement>(), null, role);
        var profile = new Profile("p", "1.0.0", "P", "", null,
        [
            new Control("a", "A", "A", [probe("x", VerdictRole.Verdict), probe("x", VerdictRole.Supporting)], [], CombineRule.AnyFail),
            new Control("b", "B", "B", [probe("y", VerdictRole.Supporting), probe("z", VerdictRole.Verdict)], [], CombineRule.AnyFail),
        ]);

        IReadOnlyList<VerdictRole> roles = ControlVerdicts.FindingRoles(profile, ["a", "a", "b", "b", "unknown"]);

        Assert.Equal([VerdictRole.Verdict, VerdictRole.Supporting, VerdictRole.Supporting, VerdictRole.Verdict, VerdictRole.Verdict], roles);
    }

    [Fact]
    public void Roles_LeftAtTheDefault_DoNotChangeAProfilesContentHash()
    {
        // A profile written before roles existed hashes as it did: the default role is not serialized.
        const string Before = """{"id":"p","version":"1.0.0","title":"P","regulation":"","description":null,"controls":[{"id":"c","clause":"C","title":"T","probes":[{"probe":"x","parameters":{},"threshold":null}],"evidence":[],"combine":"any-fail"}]}""";
        Profile read = System.Text.Json.JsonSerializer.Deserialize<Profile>(Before, ProfileHash.CanonicalJson)!;
        Profile supporting = read with { Controls = [read.Controls[0] with { Role = VerdictRole.Supporting }] };

        Assert.Equal(Before, System.Text.Json.JsonSerializer.Serialize(read, ProfileHash.CanonicalJson));
        Assert.Contains("\"role\":\"supporting\"", System.Text.Json.JsonSerializer.Serialize(supporting, ProfileHash.CanonicalJson), StringComparison.Ordinal);
        Assert.NotEqual(ProfileHash.Compute(read), ProfileHash.Compute(supporting));
    }
}
