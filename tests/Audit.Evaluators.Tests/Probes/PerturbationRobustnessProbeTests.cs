using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

[Collection(NativeTorch.Collection)]
public sealed class PerturbationRobustnessProbeTests
{
    private static async Task<ProbeOutcome> RunAsync(double noiseFraction, int seed = 1)
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new PerturbationRobustnessProbe();
        ProbeContext context = ProbeHarness.Context(probe, fixture, TrojanFixtures.CleanDataset(false, 1000, 8000), seed,
            new Dictionary<string, object> { ["noiseFraction"] = noiseFraction, ["trials"] = 2 });
        return await probe.RunAsync(context, CancellationToken.None);
    }

    [Fact]
    public async Task SmallNoise_BarelyMovesACleanCnn_AndPasses()
    {
        ProbeOutcome outcome = await RunAsync(0.02);

        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.InRange((double)outcome.Details["cleanAccuracy"]!, 0.85, 1.0);
        Assert.InRange((double)outcome.Details["statistic"]!, -0.02, 0.05);
        Assert.True(outcome.Score < 1);
    }

    [Fact]
    public async Task HeavyNoise_DestroysAccuracy_AndIsFlagged()
    {
        ProbeOutcome outcome = await RunAsync(0.5);

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.True((double)outcome.Details["statistic"]! > 0.2, outcome.Summary);
        Assert.Equal((double)outcome.Details["statistic"]! / 0.05, outcome.Score!.Value, 9);
    }

    [Fact]
    public async Task SameSeed_GivesIdenticalResults_OtherSeedDiffers()
    {
        ProbeOutcome first = await RunAsync(0.3, seed: 5);
        ProbeOutcome again = await RunAsync(0.3, seed: 5);
        ProbeOutcome other = await RunAsync(0.3, seed: 6);

        Assert.Equal(first.Details["perturbedAccuracyPerTrial"]!.ToJsonString(), again.Details["perturbedAccuracyPerTrial"]!.ToJsonString());
        Assert.NotEqual(first.Details["perturbedAccuracyPerTrial"]!.ToJsonString(), other.Details["perturbedAccuracyPerTrial"]!.ToJsonString());
    }
}
