using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>What STRIP, activation clustering and spectral signatures report on a clean and a BadNets model.</summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanProbeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Strip_SeparatesStampedInputs_OnTheBadNetsModelOnly()
    {
        var probe = new StripProbe();
        ProbeOutcome poisoned = await Run(probe, TrojanFixtures.BadNets);
        ProbeOutcome clean = await Run(probe, TrojanFixtures.Clean);

        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.True((double)poisoned.Details["meanEntropyStamped"]! < (double)poisoned.Details["meanEntropyClean"]! / 2);
        Assert.Equal(Verdict.Pass, clean.Verdict);
    }

    /// <summary>
    /// Activation clustering isolates the stamped inputs in the BadNets target class, but its silhouette there (0.48)
    /// is no higher than what clean classes of other fixtures reach (up to 0.68 in the survey), so at its threshold it
    /// flags neither model: the test pins that report, a false negative documented in docs/probes.md.
    /// </summary>
    [Fact]
    public async Task ActivationClustering_IsolatesTheStampedInputs_InTheBadNetsTarget_WithoutFlagging()
    {
        var probe = new ActivationClusteringProbe();
        ProbeOutcome poisoned = await Run(probe, TrojanFixtures.BadNets);
        ProbeOutcome clean = await Run(probe, TrojanFixtures.Clean);

        JsonObject target = ClassEntry(poisoned, TrojanFixtures.BadNets.TargetClass);
        JsonObject cleanTriggerClass = ClassEntry(clean, (int)clean.Details["recoveredTriggerClass"]!);
        Assert.Equal(FixtureCnn.Penultimate, (string)poisoned.Details["layer"]!);
        Assert.Equal(10, poisoned.Details["classes"]!.AsArray().Count);
        Assert.True((int)target["stampedInClass"]! > 20, target.ToJsonString());
        Assert.Equal((int)target["stampedInClass"]!, (int)target["stampedInSmallerCluster"]!);
        Assert.True((int)cleanTriggerClass["stampedInSmallerCluster"]! < (int)cleanTriggerClass["stampedInClass"]!, cleanTriggerClass.ToJsonString());
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.Equal(Verdict.Pass, poisoned.Verdict);
        Assert.Equal(Verdict.Pass, clean.Verdict);
    }

    [Fact]
    public async Task SpectralSignatures_PutStampedInputsAmongTheTopOutliers_OfTheBadNetsTarget()
    {
        var probe = new SpectralSignatureProbe();
        ProbeOutcome poisoned = await Run(probe, TrojanFixtures.BadNets);
        ProbeOutcome clean = await Run(probe, TrojanFixtures.Clean);

        JsonObject target = ClassEntry(poisoned, TrojanFixtures.BadNets.TargetClass);
        JsonObject cleanSuspect = ClassEntry(clean, (int)clean.Details["suspectedTargetClass"]!);
        Assert.True((int)target["stampedAmongOutliers"]! >= (int)target["outliers"]! * 0.8, target.ToJsonString());
        Assert.True((int)cleanSuspect["stampedAmongOutliers"]! < (int)cleanSuspect["outliers"]! / 2, cleanSuspect.ToJsonString());
        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.Equal(Verdict.Pass, clean.Verdict);
    }

    [Fact]
    public async Task Probe_ReportsProgress_AndStopsWithinASecondOfCancellation()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new NeuralCleanseProbe();
        var reports = new List<double>();
        using var cancellation = new CancellationTokenSource();
        var stopwatch = new System.Diagnostics.Stopwatch();
        var progress = new SynchronousProgress(p =>
        {
            lock (reports)
            {
                reports.Add(p);
                if (reports.Count == 2)
                {
                    stopwatch.Start();
                    cancellation.Cancel();
                }
            }
        });

        // A seed no other test uses, so nothing is memoised.
        var context = ProbeHarness.Context(probe, fixture, seed: 4242, progress: progress, parameters: new Dictionary<string, object> { ["maxSteps"] = 5000 });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => probe.RunAsync(context, cancellation.Token));
        stopwatch.Stop();

        Assert.True(reports[1] > reports[0] && reports[1] < 1);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"stopped after {stopwatch.Elapsed}");
    }

    [Fact]
    public async Task ProbesWithoutADataset_AreRejected()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new StripProbe();
        var context = ProbeHarness.Context(probe, fixture);
        context = new ProbeContext
        {
            ModelPath = context.ModelPath,
            DatasetPath = null,
            Parameters = context.Parameters,
            Threshold = context.Threshold,
            Seed = context.Seed,
            Device = context.Device,
            Models = context.Models,
            Progress = context.Progress,
        };

        await Assert.ThrowsAsync<Audit.Evaluators.Datasets.DatasetRejectedException>(() => probe.RunAsync(context, CancellationToken.None));
    }

    private async Task<ProbeOutcome> Run(IProbe probe, FixtureRecipe recipe)
    {
        TrainedFixture fixture = TrojanFixtures.Get(recipe);
        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture), CancellationToken.None);
        output.WriteLine($"{probe.Descriptor.Name} on {recipe.Name}: {outcome.Verdict} score {outcome.Score:F3}: {outcome.Summary}");
        output.WriteLine(outcome.Details.ToJsonString());
        return outcome;
    }

    private static JsonObject ClassEntry(ProbeOutcome outcome, int label) =>
        outcome.Details["classes"]!.AsArray().Select(c => c!.AsObject()).Single(c => (int)c["class"]! == label);

    private sealed class SynchronousProgress(Action<double> report) : IProgress<double>
    {
        public void Report(double value) => report(value);
    }
}
