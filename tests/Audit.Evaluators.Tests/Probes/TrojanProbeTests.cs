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
        Assert.True((bool)poisoned.Details["candidateTrigger"]!);
        Assert.True((double)poisoned.Details["meanEntropyStamped"]! < (double)poisoned.Details["meanEntropyClean"]! / 2);
        AssertNoCandidate(clean);
        Assert.InRange((double)clean.Details["detectionRate"]!, 0, 1);
    }

    /// <summary>
    /// What the gate is for: the smallest trigger of a clean model is a universal adversarial patch, which also
    /// survives superimposition — far more stamped inputs keep a low entropy than the 5% of clean inputs allowed
    /// below the boundary. Without the gate that measurement is the statistic; with it, it is reported but cannot flag.
    /// </summary>
    [Fact]
    public async Task WithoutTheCandidateGate_StripJudgesTheSmallestTriggerOfAnyModel()
    {
        var probe = new StripProbe();
        ProbeOutcome gated = await Run(probe, TrojanFixtures.Clean);
        ProbeOutcome ungated = await Run(probe, TrojanFixtures.Clean, new Dictionary<string, object> { ["requireAnomalousTrigger"] = false });

        AssertNoCandidate(gated);
        Assert.True((bool)ungated.Details["candidateTrigger"]!);
        Assert.Equal((double)gated.Details["detectionRate"]!, (double)ungated.Details["detectionRate"]!);
        Assert.Equal((double)ungated.Details["detectionRate"]!, (double)ungated.Details["statistic"]!);
        // Ungated, STRIP judges the scan's smallest trigger on its own statistic: same class as the gated run names,
        // and a verdict that follows the measured rate against the threshold. How often a clean model's natural trigger
        // survives the overlays is a property of the fixture and the scan (69 % under the old schedule, 8 % under the
        // K-Arm one), not of this code, so it is reported in docs/probes.md rather than asserted here.
        Assert.Equal((int)gated.Details["suspectedTargetClass"]!, (int)ungated.Details["suspectedTargetClass"]!);
        Assert.Equal(
            (double)ungated.Details["statistic"]! >= (double)ungated.Details["threshold"]! ? Verdict.Fail : Verdict.Pass,
            ungated.Verdict);
    }

    [Fact]
    public async Task ActivationClustering_IsolatesTheStampedInputs_InTheBadNetsTarget()
    {
        var probe = new ActivationClusteringProbe();
        ProbeOutcome poisoned = await Run(probe, TrojanFixtures.BadNets);
        ProbeOutcome clean = await Run(probe, TrojanFixtures.Clean);

        JsonObject target = ClassEntry(poisoned, TrojanFixtures.BadNets.TargetClass);
        Assert.Equal(FixtureCnn.Penultimate, (string)poisoned.Details["layer"]!);
        Assert.Equal(10, poisoned.Details["classes"]!.AsArray().Count);
        Assert.True((int)target["stampedInClass"]! > 20, target.ToJsonString());
        // All 30 stamped inputs on an AMD EPYC, 29 of 30 on an Intel Xeon (2026-12-01): the recovered trigger moves
        // with the processor's arithmetic, so nine in ten is asserted, far above the flag (overlap 0.6).
        Assert.True((int)target["stampedInSmallerCluster"]! >= 0.9 * (int)target["stampedInClass"]!, target.ToJsonString());
        Assert.All(poisoned.Details["classes"]!.AsArray(), c => Assert.InRange((double)c!["silhouette"]!, -1, 1));
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        AssertNoCandidate(clean);
    }

    [Fact]
    public async Task SpectralSignatures_PutStampedInputsAmongTheTopOutliers_OfTheBadNetsTarget()
    {
        var probe = new SpectralSignatureProbe();
        ProbeOutcome poisoned = await Run(probe, TrojanFixtures.BadNets);
        ProbeOutcome clean = await Run(probe, TrojanFixtures.Clean);

        JsonObject target = ClassEntry(poisoned, TrojanFixtures.BadNets.TargetClass);
        Assert.True((int)target["stampedAmongOutliers"]! >= (int)target["outliers"]! * 0.8, target.ToJsonString());
        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(TrojanFixtures.BadNets.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        AssertNoCandidate(clean);
    }

    /// <summary>On the clean fixture Neural Cleanse (calibrated) finds no anomalous trigger, so there is nothing to test and nothing is flagged.</summary>
    private static void AssertNoCandidate(ProbeOutcome clean)
    {
        Assert.Equal(Verdict.Pass, clean.Verdict);
        Assert.False((bool)clean.Details["candidateTrigger"]!);
        Assert.True((double)clean.Details["candidateAnomalyIndex"]! < 2);
        Assert.Equal(0, clean.Score);
        Assert.StartsWith("No candidate trigger", clean.Summary, StringComparison.Ordinal);
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
            Evidence = new Audit.Evaluators.Sessions.AuditEvidence(null, context.Device),
            Session = new Audit.Evaluators.Sessions.SessionCache(),
        };

        await Assert.ThrowsAsync<Audit.Evaluators.Datasets.DatasetRejectedException>(() => probe.RunAsync(context, CancellationToken.None));
    }

    private async Task<ProbeOutcome> Run(IProbe probe, FixtureRecipe recipe, IReadOnlyDictionary<string, object>? parameters = null)
    {
        TrainedFixture fixture = TrojanFixtures.Get(recipe);
        ProbeOutcome outcome = await probe.RunAsync(ProbeHarness.Context(probe, fixture, parameters: parameters), CancellationToken.None);
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
