using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Causal tracing of the BadNets model's recovered trigger: the probe reuses the audit's shared Neural Cleanse scan
/// (the same session as the other BadNets tests) and finds a few channels that carry the trigger.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanCausalTraceProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task BadNetsTrigger_IsCarriedByAFewChannels_ThatRestoreTheCleanLabel_UnlikeRandomOnes()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        var probe = new TrojanCausalTraceProbe();

        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine(outcome.Summary);
        output.WriteLine(outcome.Details.ToJsonString());

        // Descriptive: it names where the trigger acts and never flags.
        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.Equal(fixture.Recipe.TargetClass, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.True((int)outcome.Details["tracedInputs"]! >= 10);

        // Some value's top-ranked channels, restored together, return the clean label on most stamped inputs, while
        // as many random channels of the same value return far fewer: the trigger travels through those channels.
        string carrier = (string)outcome.Details["carrierValue"]!;
        var trace = outcome.Details["values"]!.AsArray().Single(v => (string)v!["value"]! == carrier)!;
        int needed = (int)trace["channelsNeeded"]!;
        long channels = (long)trace["shape"]![1]!;
        double restored = (double)trace["topChannelsRestored"]!, random = (double)trace["randomChannelsRestored"]!;
        Assert.True(restored >= (double)outcome.Details["restoreTarget"]!);
        Assert.True(needed < channels, $"{needed} of {channels} channels");
        Assert.True(restored - random > 0.3, $"top {restored} vs random {random}");
        Assert.Equal(needed, outcome.Details["carrierChannels"]!.AsArray().Count);
    }
}
