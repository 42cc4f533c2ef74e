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
}
