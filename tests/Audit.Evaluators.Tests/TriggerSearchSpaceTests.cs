using Audit.Evaluators.Datasets;
using Audit.Evaluators.Probes.Deception;

namespace Audit.Evaluators.Tests;

public sealed class TriggerSearchSpaceTests
{
    private static SequenceEvidence Evidence(IEnumerable<(long[] Base, long[] Cued)> controls, IEnumerable<long[]>? prompts = null) => new(
        [],
        controls.Select((c, i) => new PromptPair(c.Base, c.Cued, null, i + 1)).ToList(),
        [],
        [],
        (prompts ?? []).Select((p, i) => new EvaluationPrompt(p, 100 + i)).ToList());

    [Fact]
    public void Create_EditsOnlyWherePromptsVary_BeforeTheLastToken_WithTheTokensTheEvidenceShowsThere()
    {
        // Layout: BOS x y + z =   (x, y, z vary; BOS, + and = do not; the last token is never edited).
        long[][] prompts = [[1, 20, 8, 2, 9, 3], [1, 21, 9, 2, 8, 3], [1, 22, 8, 2, 10, 3]];
        SequenceEvidence evidence = Evidence(prompts.Select(p => (p, p)), [[1, 25, 8, 2, 9, 3]]);

        var space = TriggerSearchSpace.Create(prompts, evidence, vocabularySize: 32, minLength: 1, maxLength: 4, wholeVocabulary: false);

        Assert.Equal([1, 2, 4], space.Editable);
        Assert.Equal([20L, 21, 22, 25], space.CandidatesAt(1));
        Assert.Equal([8L, 9], space.CandidatesAt(2));
        Assert.Equal([new TriggerSpan(1, 1), new TriggerSpan(2, 1), new TriggerSpan(4, 1), new TriggerSpan(1, 2)], space.Spans);
    }

    [Fact]
    public void Create_WithTheWholeVocabulary_KeepsThePositionsButOffersEveryToken()
    {
        long[][] prompts = [[1, 20, 3], [1, 21, 3]];

        var space = TriggerSearchSpace.Create(prompts, Evidence(prompts.Select(p => (p, p))), vocabularySize: 32, 1, 4, wholeVocabulary: true);

        Assert.Equal([1], space.Editable);
        Assert.Equal(32, space.CandidatesAt(1).Count);
    }

    [Fact]
    public void Create_MarksAPositionAControlEdits_EvenWhenThePromptsAgreeThere()
    {
        long[][] prompts = [[1, 20, 3], [1, 20, 3]];

        var space = TriggerSearchSpace.Create(prompts, Evidence([([1, 20, 3], [1, 27, 3])]), 32, 1, 4, wholeVocabulary: false);

        Assert.Equal([1], space.Editable);
        Assert.Equal([20L, 27], space.CandidatesAt(1));
    }

    [Fact]
    public void Create_PromptsThatNeverVary_LeaveNothingToSearch()
    {
        long[][] prompts = [[1, 20, 3], [1, 20, 3]];

        var space = TriggerSearchSpace.Create(prompts, Evidence(prompts.Select(p => (p, p))), 32, 1, 4, wholeVocabulary: false);

        Assert.Empty(space.Spans);
    }

    [Fact]
    public void Draw_TakesEveryTokenFromItsPositionsCandidates_DeterministicallyForASeed()
    {
        long[][] prompts = [[1, 20, 8, 3], [1, 21, 9, 3], [1, 22, 8, 3]];
        var space = TriggerSearchSpace.Create(prompts, Evidence(prompts.Select(p => (p, p))), 32, 2, 2, wholeVocabulary: false);

        long[][] first = Enumerable.Range(0, 50).Select(_ => space.Draw(new TriggerSpan(1, 2), new Random(3))).ToArray();
        var random = new Random(5);
        long[][] many = Enumerable.Range(0, 200).Select(_ => space.Draw(new TriggerSpan(1, 2), random)).ToArray();

        Assert.All(first, d => Assert.Equal(first[0], d));
        Assert.All(many, d => Assert.Contains(d[0], new long[] { 20, 21, 22 }));
        Assert.All(many, d => Assert.Contains(d[1], new long[] { 8, 9 }));
        Assert.Equal(3, many.Select(d => d[0]).Distinct().Count());
    }
}
