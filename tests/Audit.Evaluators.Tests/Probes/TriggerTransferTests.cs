using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>Whether Neural Cleanse's recovered trigger also works on the distilled reference (reuses the fixtures' shared scans).</summary>
[Collection(NativeTorch.Collection)]
public sealed class TriggerTransferTests(ITestOutputHelper output)
{
    /// <summary>An implant is not distilled from clean inputs: the BadNets trigger works on the audited model, not on the reference.</summary>
    [Fact]
    public async Task BadNetsTrigger_WorksOnTheModel_NotOnTheDistilledReference()
    {
        ProbeOutcome outcome = await Run(TrojanFixtures.BadNets);

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        double audited = (double)outcome.Details["auditedAttackRate"]!;
        double reference = (double)outcome.Details["referenceAttackRate"]!;
        Assert.True(audited >= 0.9, $"audited {audited}");
        Assert.True(reference < TriggerTransfer.AlsoWorks, $"reference {reference}");
        Assert.False((bool)outcome.Details["triggerWorksOnReference"]!);
        Assert.DoesNotContain("also works on the reference", outcome.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CleanModelsSmallestTrigger_IsMeasuredOnBoth_AndTheSummaryFollowsTheRate()
    {
        ProbeOutcome outcome = await Run(TrojanFixtures.Clean);

        double reference = (double)outcome.Details["referenceAttackRate"]!;
        Assert.InRange((double)outcome.Details["auditedAttackRate"]!, 0, 1);
        Assert.InRange(reference, 0, 1);
        Assert.Equal(reference >= TriggerTransfer.AlsoWorks, (bool)outcome.Details["triggerWorksOnReference"]!);
        Assert.Equal(reference >= TriggerTransfer.AlsoWorks, outcome.Summary.Contains("also works on the reference", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutReferenceCalibration_NothingIsReportedAboutTheReference()
    {
        ProbeOutcome outcome = await Run(TrojanFixtures.BadNets, new Dictionary<string, object> { ["referenceCalibration"] = false });

        Assert.Null(outcome.Details["referenceAttackRate"]);
    }

    private async Task<ProbeOutcome> Run(FixtureRecipe recipe, IReadOnlyDictionary<string, object>? parameters = null)
    {
        var probe = new NeuralCleanseProbe();
        TrainedFixture fixture = TrojanFixtures.Get(recipe);
        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, parameters: parameters), CancellationToken.None);
        output.WriteLine($"{recipe.Name}: {outcome.Verdict}: {outcome.Summary}");
        output.WriteLine($"audited {outcome.Details["auditedAttackRate"]?.ToJsonString()} reference {outcome.Details["referenceAttackRate"]?.ToJsonString()}");
        return outcome;
    }
}
