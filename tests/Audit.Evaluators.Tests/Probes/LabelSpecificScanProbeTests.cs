using System.Diagnostics;
using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.ModelZoo;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The source-specific scan on two of the model zoo's design-split MLPs (grey 28×28, [0, 1]; each trains in about a
/// second from its fixed seed and is cached under the fixture cache): seed 39, whose 5×5 patch sends inputs of class 2
/// (pullover) — and only those — to class 1, and seed 37, clean, of the same recipe. The design split is the one
/// anything may be tuned on (the probe's threshold, 6, is the smallest half-integer above its 60 clean models'
/// statistics). The backdoored model runs at two audit seeds, so its pair rests on more than one seed's luck; the
/// margins are stated in the asserts. Measured with the shadow yardstick (2026-12-01, load about 5 on the shared 2-core
/// machine): the source-specific model scored anomaly index 5.21 and 6.22 (pair 2 → 1 both times), the clean one 2.97;
/// each run 5–8 CPU-s.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class LabelSpecificScanProbeTests(ITestOutputHelper output)
{
    private const int SourceSpecificSeed = 39;

    private const int CleanSeed = 37;

    private static readonly int[] AuditSeeds = [20240613, 7];

    [Fact]
    public async Task SourceSpecificBackdoor_StandsApart_AsItsSourceAndTargetPair_AtTwoSeeds()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe recipe = Recipe(SourceSpecificSeed);
        Assert.True(recipe.SourceClass >= 0, "the recipe is source-specific");
        foreach (int seed in AuditSeeds)
        {
            ProbeOutcome outcome = await ScanAsync(recipe, seed);
            // Not the verdict: the statistic sits on either side of the threshold 6 (5.21 and 6.22 at the two seeds), and
            // one machine's arithmetic can move an anomaly index that much (the clean README example's Neural Cleanse
            // index is 1.39 on one CPU and 2.04 on another). What the scan must get right on any machine is which pair,
            // and that it stands apart.
            Assert.Equal(recipe.SourceClass, (int)outcome.Details["suspectedSourceClass"]!);
            Assert.Equal(recipe.TargetClass, (int)outcome.Details["suspectedTargetClass"]!);

            // The implanted pair stands apart from every other pair, not just above the threshold.
            double[] indices = [.. outcome.Details["lowestPairs"]!.AsArray().Select(p => (double)p!["anomalyIndex"]!)];
            Assert.True(indices[0] - indices[1] >= 1.0, $"seed {seed}: indices {string.Join(", ", indices)}");
        }
    }

    [Fact]
    public async Task CleanModel_Passes_WithMargin()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe recipe = Recipe(CleanSeed);
        Assert.False(recipe.Backdoored);
        // One audit seed: the margin is wide (index 2.97 measured, flagged at 6; the assert allows up to 3.6), and each
        // run costs 5–8 CPU-s of the CI budget.
        foreach (int seed in AuditSeeds.Take(1))
        {
            ProbeOutcome outcome = await ScanAsync(recipe, seed);
            Assert.Equal(Verdict.Pass, outcome.Verdict);
            Assert.True(outcome.Score <= 0.6, $"seed {seed}: score {outcome.Score}");
            Assert.Equal(90, (int)outcome.Details["pairs"]!);
        }
    }

    /// <summary>
    /// A class the model assigns too few clean inputs to is not scanned as a source, and the finding must say so: a
    /// pass over the other pairs says nothing about a backdoor from it (two of the zoo's ten source-specific design
    /// models had their source skipped this way). The minimum is set from the model's own counts, one above the third
    /// smallest, so at least three classes fall below it whatever the counts are.
    /// </summary>
    [Fact]
    public async Task ClassesTheModelRarelyAssigns_AreNamedAsNotScanned_WithTheirCounts()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe recipe = Recipe(CleanSeed);
        int[] assigned = [.. (await ScanAsync(recipe, AuditSeeds[0])).Details["assignedInputs"]!.AsArray().Select(n => (int)n!)];
        Assert.Equal(10, assigned.Length);
        Assert.Equal(1000, assigned.Sum());
        int minimum = assigned.Order().ElementAt(2) + 1;
        int[] expected = [.. Enumerable.Range(0, 10).Where(k => assigned[k] < minimum)];
        Assert.InRange(expected.Length, 3, 7);

        ProbeOutcome outcome = await ZooProbeRuns.RunAsync(
            new LabelSpecificScanProbe(), recipe, AuditSeeds[0], output, new Dictionary<string, JsonElement> { ["minimumSourceInputs"] = JsonSerializer.SerializeToElement(minimum) });

        Assert.Equal(expected, outcome.Details["skippedSources"]!.AsArray().Select(n => (int)n!));
        Assert.Equal((10 - expected.Length) * 9, (int)outcome.Details["pairs"]!);
        Assert.Equal(assigned, outcome.Details["assignedInputs"]!.AsArray().Select(n => (int)n!));
        Assert.Contains($"fewer than {minimum} of the 1000 clean inputs", outcome.Summary, StringComparison.Ordinal);
        Assert.Contains($"Classes {expected[0]} ({assigned[expected[0]]} inputs), ", outcome.Summary, StringComparison.Ordinal);
        foreach (int k in expected.Skip(1))
        {
            Assert.Contains($" {k} ({assigned[k]})", outcome.Summary, StringComparison.Ordinal);
        }

        Assert.Contains("were not scanned as sources", outcome.Summary, StringComparison.Ordinal);
        Assert.Contains("is not looked for", outcome.Summary, StringComparison.Ordinal);

        // With fewer than three scannable sources there is no anomaly index to take: inconclusive, with the counts.
        int tooMany = assigned.Order().ElementAt(8) + 1;
        ProbeOutcome refused = await ZooProbeRuns.RunAsync(
            new LabelSpecificScanProbe(), recipe, AuditSeeds[0], output, new Dictionary<string, JsonElement> { ["minimumSourceInputs"] = JsonSerializer.SerializeToElement(tooMany) });
        Assert.Equal(Verdict.Inconclusive, refused.Verdict);
        Assert.Contains($"(per class: {string.Join(", ", assigned)})", refused.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void RowCentring_RemovesASourceThatIsCheapToEveryTarget_AndKeepsOneCheapTarget()
    {
        (int, int)[] pairs = [(0, 1), (0, 2), (0, 3), (1, 0), (1, 2), (1, 3), (2, 0), (2, 1), (2, 3)];

        // Source 1 is cheap to every target (a fragile class); source 2 has one cheap target (an implant's shape).
        double[] ratios = [0.1, 0.0, -0.1, -1.0, -1.1, -0.9, 0.0, -1.5, 0.1];
        double[] centred = LabelSpecificScanProbe.RowCentred(ratios, pairs);
        Assert.Equal(-0.1, centred[4], 6);
        Assert.Equal(-1.5, centred[7], 6);
        Assert.Equal(7, Array.IndexOf(centred, centred.Min()));
    }

    [Theory]
    [InlineData(90)] // ten classes: the zoo's size, where the error rates are measured
    [InlineData(132)] // twelve
    [InlineData(380)] // twenty
    [InlineData(1806)] // 43, the traffic-sign case
    [InlineData(9900)] // 100
    public void TheSchedule_KeepsTheWorkWithinTheBudget_AndGivesEveryComparedPairTheFullSteps(int pairs)
    {
        const int steps = 160, samples = 8, budget = LabelSpecificScanProbe.DefaultPairBudget;

        (int screening, int refine, int screeningSamples, int refineSamples) = LabelSpecificScanProbe.Schedule(pairs, steps, 0, samples, budget);

        // A refined pair gets the thorough pass's steps in all, whatever the schedule.
        Assert.Equal(steps, screening + refine);
        if (refine == 0)
        {
            // One pass over every pair, on as many inputs as fit (never fewer than two).
            Assert.InRange(refineSamples, 2, samples);
            Assert.Equal(screeningSamples, refineSamples);
            Assert.True((long)pairs * steps * refineSamples <= budget);
            Assert.Equal(pairs <= 90 ? samples : Math.Min(samples, budget / (pairs * steps)), refineSamples);
        }
        else
        {
            // The screen spends at most half the budget unless its ten-step floor needs more; with the refinement of
            // the ⌈√P⌉ + 16 pairs the screen chooses (an upper bound: refined pairs may stop early), the whole scan fits
            // the budget up to 43 classes, and at 100 the floor costs about three budgets.
            Assert.Equal(2, screeningSamples);
            Assert.True(screening == 10 || (long)pairs * screening * screeningSamples <= budget / 2);
            Assert.Equal(0, screening % 10);
            long refined = (long)Math.Ceiling(Math.Sqrt(pairs)) + 16;
            long work = (long)pairs * screening * screeningSamples + refined * refine * refineSamples;
            Assert.True(work <= (pairs <= 1806 ? budget : 3L * budget), $"work {work} against the budget {budget}");
        }

        // No budget: always the thorough pass; an explicit second pass: as given.
        Assert.Equal((steps, 0, samples, samples), LabelSpecificScanProbe.Schedule(pairs, steps, 0, samples, 0));
        Assert.Equal((steps, 40, samples / 2, samples), LabelSpecificScanProbe.Schedule(pairs, steps, 40, samples, budget));
    }

    [Fact]
    public void TrojanLikelihood_RunsTheScan_WhenAFitNamesItsStatistic()
    {
        string feature = TrojanLikelihoodFeatures.StatisticOf("label-specific-scan");
        Assert.Contains("label-specific-scan", TrojanLikelihoodFeatures.DetectorsFor(["calibratedAnomalyIndex", feature]));
        var model = new TrojanLikelihoodModel("test", ["calibratedAnomalyIndex", feature], [0, 0], [1, 1], [1, 1], 0, 1, 0, [0.1, 0.2], [], 2, 2, 2, 0.05, null);

        // Constructs only when the detector the fit names is among the built-in trojan probes.
        var probe = new TrojanLikelihoodProbe(model, TrojanProbes.All());
        Assert.Equal("trojan-likelihood", probe.Descriptor.Name);
    }

    /// <summary>
    /// The README's 10-class examples (an all-to-one 3×3 patch to class 3, and the clean model), for the probe's cost and
    /// for what it says of an all-to-one backdoor (one cheap target in every source's row). Opt-in: it measures, and the
    /// suite has the zoo models above. AUDIT_PAIRS_EXAMPLE=1 dotnet test tests/Audit.Evaluators.Tests --filter LabelSpecificScanProbeTests
    /// </summary>
    [OptInFact("AUDIT_PAIRS_EXAMPLE")]
    public async Task ReadmeExamples_CostAndFindings()
    {
        string examples = Path.Combine(TrojanFixtures.RepositoryRoot(), "examples");
        string dataset = Path.Combine(examples, "fashion-mnist-1000.safetensors");
        var runner = new ProbeRunner(new ProbeCatalog([new LabelSpecificScanProbe()]), static (path, device) => new OnnxModelSource(path, device));
        foreach (string name in new[] { "fashion-cnn-badnets.onnx", "fashion-cnn-clean.onnx" })
        {
            using EvaluationSession session = runner.Open(Path.Combine(examples, name), dataset, "cpu", 20240613);
            TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            ProbeOutcome outcome = await session.RunAsync(
                new ProbeInvocation("label-specific-scan", new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
            output.WriteLine($"{name}: {outcome.Verdict} statistic {outcome.Details["statistic"]} ({clock.Elapsed.TotalSeconds:F1} s wall, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} CPU-s) {outcome.Summary}");
            if (name.Contains("badnets", StringComparison.Ordinal))
            {
                Assert.Equal(3, (int)outcome.Details["suspectedTargetClass"]!);
            }
        }

        // What the shadow costs with only 10 search steps (its training, predictions, one check round), against the full run.
        using EvaluationSession alone = runner.Open(Path.Combine(examples, "fashion-cnn-clean.onnx"), dataset, "cpu", 20240613);
        TimeSpan before = Process.GetCurrentProcess().TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        await alone.RunAsync(
            new ProbeInvocation("label-specific-scan", new Dictionary<string, JsonElement> { ["screeningSteps"] = JsonSerializer.SerializeToElement(10), ["refineSteps"] = JsonSerializer.SerializeToElement(0) }, null),
            new Progress<double>(),
            CancellationToken.None);
        output.WriteLine($"shadow and 10 steps only: {watch.Elapsed.TotalSeconds:F1} s wall, {(Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds:F1} CPU-s");
    }

    private static ZooRecipe Recipe(int seed) => ZooProbeRuns.DesignRecipe(seed);

    private Task<ProbeOutcome> ScanAsync(ZooRecipe recipe, int seed) => ZooProbeRuns.RunAsync(new LabelSpecificScanProbe(), recipe, seed, output);
}
