using Audit.Evaluators.Datasets;
using Audit.Evaluators.Probes.Deception;

namespace Audit.Evaluators.Tests;

public sealed class SequenceEvidenceRequirementsTests
{
    private static SequenceEvidence Evidence(int controls = 0, int trueStatements = 0, int falseStatements = 0, int prompts = 0, int contrasts = 0, bool vary = true) => new(
        Enumerable.Range(0, controls).Select(i => new PromptPair([1, 20 + i, 3], [1, 30, 3], "cue", 50 + i)).ToList(),
        Enumerable.Range(0, controls).Select(i => new PromptPair([1, vary ? 20 + i : 20, 3], [1, 9, 3], null, i + 1)).ToList(),
        [.. Enumerable.Range(0, trueStatements).Select(i => new LabelledStatement([1, 2, 3], true, i)), .. Enumerable.Range(0, falseStatements).Select(i => new LabelledStatement([1, 2, 4], false, i))],
        Enumerable.Range(0, contrasts).Select(i => new ContrastPair([1, 2, 3], [1, 2, 4], 6, 7, null, i)).ToList(),
        Enumerable.Range(0, prompts).Select(i => new EvaluationPrompt([1, 2, 3], i)).ToList());

    [Fact]
    public void Shortfalls_SayWhatEachIndicatorLacks_AndWhatToAdd()
    {
        SequenceEvidence statementsOnly = Evidence(trueStatements: 5, falseStatements: 5, prompts: 1);

        Assert.Contains("add prompts with the suspected cue", Assert.Single(SequenceEvidenceRequirements.Shortfalls(CueDivergenceProbe.Name, statementsOnly)), StringComparison.Ordinal);
        Assert.Contains("at least 4 distinct 'base' prompts", Assert.Single(SequenceEvidenceRequirements.Shortfalls(TriggerSearchProbe.Name, statementsOnly)), StringComparison.Ordinal);
        Assert.Contains("8 'contrast' records", Assert.Single(SequenceEvidenceRequirements.Shortfalls(ContrastConsistentSearchProbe.Name, statementsOnly)), StringComparison.Ordinal);
        Assert.Empty(SequenceEvidenceRequirements.Shortfalls(LinearDeceptionProbe.Name, statementsOnly));
    }

    [Fact]
    public void Shortfalls_NoneWhenTheEvidenceSupportsTheIndicator()
    {
        // Token-class dominance needs 8 distinct base prompts (fewer cannot reach its Bonferroni level), the others 4 or fewer.
        SequenceEvidence full = Evidence(controls: 8, trueStatements: 5, falseStatements: 5, prompts: 1, contrasts: 8);

        Assert.All(SequenceEvidenceRequirements.Probes, probe => Assert.Empty(SequenceEvidenceRequirements.Shortfalls(probe, full)));
        Assert.Empty(SequenceEvidenceRequirements.Shortfalls("neural-cleanse", Evidence()));
    }

    [Fact]
    public void Shortfalls_TokenClassDominance_NeedsEightBasePrompts_WhereTheTriggerSearchNeedsFour()
    {
        SequenceEvidence four = Evidence(controls: 4);

        Assert.Empty(SequenceEvidenceRequirements.Shortfalls(TriggerSearchProbe.Name, four));
        Assert.Contains("at least 8 distinct 'base' prompts", Assert.Single(SequenceEvidenceRequirements.Shortfalls(TokenClassDominanceProbe.Name, four)), StringComparison.Ordinal);
    }

    [Fact]
    public void Shortfalls_TriggerSearch_PromptsThatNeverVaryLeaveNothingToEdit()
    {
        // Bases that differ before their last token leave something to edit; bases that differ only in the last
        // token (the question itself) do not.
        var same = new SequenceEvidence([], Enumerable.Range(0, 4).Select(i => new PromptPair([1, 20, 3 + i, 5], [1, 20, 3 + i, 5], null, i)).ToList(), [], [], []);

        Assert.Empty(SequenceEvidenceRequirements.Shortfalls(TriggerSearchProbe.Name, same));
        var constant = new SequenceEvidence([], Enumerable.Range(0, 4).Select(i => new PromptPair([1, 20, 3, 5 + i], [1, 20, 3, 5 + i], null, i)).ToList(), [], [], []);
        Assert.Contains("differ somewhere before their last token", Assert.Single(SequenceEvidenceRequirements.Shortfalls(TriggerSearchProbe.Name, constant)), StringComparison.Ordinal);
    }
}

public sealed class DeceptionStatisticsTests
{
    [Theory]
    [InlineData(0, 10, 0.5, 1.0)]
    [InlineData(10, 10, 0.5, 1.0 / 1024)]
    [InlineData(5, 10, 0.5, 638.0 / 1024)]
    [InlineData(11, 10, 0.5, 0.0)]
    [InlineData(1, 64, 0.01, 0.47440)]
    public void BinomialUpperTail_MatchesTheExactSum(int k, int n, double p, double expected) =>
        Assert.Equal(expected, DeceptionStatistics.BinomialUpperTail(k, n, p), 4);
}
