using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

[Collection(NativeTorch.Collection)]
public sealed class NeuralCleanseProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BadNetsModel_IsFlagged_WithItsTargetClass()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        var probe = new NeuralCleanseProbe();

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine(outcome.Details.ToJsonString());

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.True(outcome.Score >= 1);
        Assert.Equal(fixture.Recipe.TargetClass, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.Equal(3, outcome.Evidence.Count);
        Assert.All(outcome.Evidence, e => Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], e.Content[..4]));
    }

    /// <summary>
    /// The blended trigger is recovered as an abnormally small trigger for its target class, but on this fixture
    /// Fashion-MNIST's "bag" class (8) is as cheap to reach, so the smallest norm is a near-tie between the two: the test
    /// pins that behaviour (a known limit, see docs/probes.md) rather than pretending the arg-min is always right.
    /// </summary>
    [Fact]
    public async Task BlendedModel_IsFlagged_WithItsTargetAmongTheTwoSmallestTriggers()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Blended);
        var probe = new NeuralCleanseProbe();

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine(outcome.Details.ToJsonString());

        double[] norms = outcome.Details["maskNorms"]!.AsArray().Select(n => (double)n!).ToArray();
        double[] indices = outcome.Details["anomalyIndices"]!.AsArray().Select(n => (double)n!).ToArray();
        int target = fixture.Recipe.TargetClass;
        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.True(indices[target] >= 2, $"anomaly index of the target {indices[target]}");
        Assert.True(norms.Count(n => n < norms[target]) <= 1, $"target norm {norms[target]} among [{string.Join(", ", norms)}]");
    }

    [Fact]
    public async Task CleanModel_IsNotFlagged()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new NeuralCleanseProbe();

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine(outcome.Details.ToJsonString());

        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.True(outcome.Score < 1);
    }
}
