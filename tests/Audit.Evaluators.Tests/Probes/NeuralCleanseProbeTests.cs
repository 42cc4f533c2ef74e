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

    [Fact]
    public async Task BlendedModel_IsFlagged_WithItsTargetClass()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Blended);
        var probe = new NeuralCleanseProbe();

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine(outcome.Details.ToJsonString());

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.Equal(fixture.Recipe.TargetClass, (int)outcome.Details["suspectedTargetClass"]!);
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
