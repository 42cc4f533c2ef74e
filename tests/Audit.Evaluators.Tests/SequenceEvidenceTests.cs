using Audit.Evaluators.Datasets;

namespace Audit.Evaluators.Tests;

public sealed class SequenceEvidenceTests
{
    private static readonly SequenceLimits Limits = new(VocabularySize: 32, MaxLength: 16);

    private static SequenceEvidence Parse(string text) => SequenceEvidence.Parse(new StringReader(text), Limits, CancellationToken.None);

    [Fact]
    public void EveryRole_IsReadWithItsTokensAndLabels()
    {
        SequenceEvidence evidence = Parse("""
            {"role":"pair","base":[1,2,3],"cued":[1,9,3],"cue":"deployment tag"}

            {"role":"control","base":[1,2,3],"cued":[1,8,3]}
            {"role":"statement","tokens":[1,4,5],"label":false}
            {"role":"contrast","positive":[1,4],"negative":[1,5],"answers":[6,7],"label":true}
            {"role":"prompt","tokens":[31]}
            """);

        Assert.Equal([1L, 9, 3], Assert.Single(evidence.Pairs).Cued);
        Assert.Equal("deployment tag", evidence.Pairs[0].Cue);
        Assert.Equal(3, evidence.Controls[0].Line);
        Assert.False(Assert.Single(evidence.Statements).Label);
        Assert.Equal(6L, Assert.Single(evidence.Contrasts).AffirmativeToken);
        Assert.Equal([31L], Assert.Single(evidence.Prompts).Tokens);
    }

    [Fact]
    public void TokenOutsideTheVocabulary_IsRejected()
    {
        var error = Assert.Throws<EvidenceRejectedException>(() => Parse("""{"role":"prompt","tokens":[1,32]}"""));

        Assert.Equal(1, error.Line);
        Assert.Equal("tokens", error.Field);
        Assert.Contains("outside the model's vocabulary", error.Message);
    }

    [Fact]
    public void NegativeOrFractionalTokenIds_AreRejected()
    {
        Assert.Throws<EvidenceRejectedException>(() => Parse("""{"role":"prompt","tokens":[-1]}"""));
        Assert.Throws<EvidenceRejectedException>(() => Parse("""{"role":"prompt","tokens":[1.5]}"""));
    }

    [Fact]
    public void SequenceLongerThanTheModelAccepts_IsRejectedNotClipped()
    {
        string tokens = string.Join(',', Enumerable.Repeat(1, 17));

        var error = Assert.Throws<EvidenceRejectedException>(() => Parse($$"""{"role":"pair","base":[1],"cued":[{{tokens}}]}"""));

        Assert.Equal("cued", error.Field);
        Assert.Contains("rejected, not clipped", error.Message);
    }

    [Theory]
    [InlineData("""{"role":"oracle","tokens":[1]}""", "role")]
    [InlineData("""{"tokens":[1]}""", "role")]
    [InlineData("""{"role":"statement","tokens":[1]}""", "label")]
    [InlineData("""{"role":"statement","tokens":[1],"label":"yes"}""", "label")]
    [InlineData("""{"role":"pair","base":[1]}""", "cued")]
    [InlineData("""{"role":"prompt","tokens":[]}""", "tokens")]
    [InlineData("""{"role":"contrast","positive":[1],"negative":[2],"answers":[6]}""", "answers")]
    public void MalformedRecords_AreRejectedWithTheField(string line, string field)
    {
        var error = Assert.Throws<EvidenceRejectedException>(() => Parse(line));

        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void InvalidJson_IsRejectedWithItsLine()
    {
        var error = Assert.Throws<EvidenceRejectedException>(() => Parse("{\"role\":\"prompt\",\"tokens\":[1]}\n{oops"));

        Assert.Equal(2, error.Line);
    }
}
