using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.ModelZoo;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The pre-screened pair search on two of the model zoo's design-split MLPs (grey 28×28, [0, 1]; each trains in about a
/// second from its fixed seed and is cached under the fixture cache): seed 39, whose 5×5 patch sends inputs of class 2
/// (pullover), and only those, to class 1, and seed 37, clean, of the same recipe. The design split is the one anything
/// may be tuned on; the probe's threshold (1.9) is its 60 clean design models' conformal 95 % point rounded up, so it is not
/// asserted here: what must hold on any machine is which pair the search names, and that the implant's model reads
/// above its clean sibling by a margin (measured 2026-12-07 under oneDNN's AVX kernels: 1.57 against 0.78 at the
/// survey's audit seed).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class PrescreenedPairSearchProbeTests(ITestOutputHelper output)
{
    private const int SourceSpecificSeed = 39;

    private const int CleanSeed = 37;

    private static readonly int[] AuditSeeds = [20240613, 7];

    [Fact]
    public async Task SourceSpecificBackdoor_ItsPairIsTheCheapest_AndReadsAboveItsCleanSibling_AtTwoSeeds()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe backdoored = ZooProbeRuns.DesignRecipe(SourceSpecificSeed);
        ZooRecipe clean = ZooProbeRuns.DesignRecipe(CleanSeed);
        Assert.True(backdoored.SourceClass >= 0, "the recipe is source-specific");
        Assert.False(clean.Backdoored);
        foreach (int seed in AuditSeeds)
        {
            ProbeOutcome implanted = await SearchAsync(backdoored, seed);
            ProbeOutcome natural = await SearchAsync(clean, seed);
            Assert.Equal(backdoored.SourceClass, (int)implanted.Details["suspectedSourceClass"]!);
            Assert.Equal(backdoored.TargetClass, (int)implanted.Details["suspectedTargetClass"]!);

            // The pre-screen kept the implanted pair among its 30 (3 targets for each of the ten sources).
            (int, int)[] pairs = Pairs(implanted);
            Assert.Equal(30, pairs.Length);
            Assert.Contains((backdoored.SourceClass, backdoored.TargetClass), pairs);

            double gap = (double)implanted.Details["statistic"]! - (double)natural.Details["statistic"]!;
            output.WriteLine($"seed {seed}: source-specific {implanted.Details["statistic"]}, clean {natural.Details["statistic"]}");
            Assert.True(gap >= 0.4, $"seed {seed}: the implant's model reads only {gap:F2} above its clean sibling");
        }
    }

    [Fact]
    public async Task SameSeed_SameFinding()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe recipe = ZooProbeRuns.DesignRecipe(SourceSpecificSeed);
        ProbeOutcome first = await SearchAsync(recipe, AuditSeeds[0]);
        ProbeOutcome second = await SearchAsync(recipe, AuditSeeds[0]);
        Assert.Equal((double)first.Details["statistic"]!, (double)second.Details["statistic"]!);
        Assert.Equal(first.Details["maskNorms"]!.ToJsonString(), second.Details["maskNorms"]!.ToJsonString());
        Assert.Equal(first.Details["pairs"]!.ToJsonString(), second.Details["pairs"]!.ToJsonString());
    }

    [Fact]
    public async Task FewerThanThreePairs_IsInconclusive_AndSaysHowManyClassesHadInputs()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        // More inputs than any class gets (1000 clean inputs over ten classes): no source at all.
        ProbeOutcome outcome = await ZooProbeRuns.RunAsync(
            new PrescreenedPairSearchProbe(),
            ZooProbeRuns.DesignRecipe(CleanSeed),
            AuditSeeds[0],
            output,
            new Dictionary<string, JsonElement> { ["minimumSourceInputs"] = JsonSerializer.SerializeToElement(1001) });
        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
        Assert.Contains("to 0 of its 10 classes", outcome.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void Prescreen_KeepsEachSourcesCheapestTargets_InPairOrder()
    {
        double[][] gain =
        [
            [double.NegativeInfinity, 0.5, 0.9, 0.1],
            [0.2, double.NegativeInfinity, 0.2, 0.3],
            [0.4, 0.4, double.NegativeInfinity, 0.4],
            [0.7, 0.1, 0.8, double.NegativeInfinity],
        ];
        long[][] sources = [[1], [2], [], [3]];

        // Two per source (ties to the lower class), source 2 has no inputs and is left out.
        Assert.Equal(
            [(0, 1), (0, 2), (1, 0), (1, 3), (3, 0), (3, 2)],
            PrescreenedPairSearchProbe.Prescreen(gain, sources, 2, 100));

        // Over the budget: the largest gains across sources, still in pair order.
        Assert.Equal(
            [(0, 2), (3, 0), (3, 2)],
            PrescreenedPairSearchProbe.Prescreen(gain, sources, 2, 3));
    }

    [Theory]
    [InlineData(10, 3, 30)]
    [InlineData(43, 3, 30)]
    [InlineData(5, 3, 15)]
    [InlineData(3, 3, 6)]
    public void Prescreen_NeverSearchesMoreThanTheBudget(int classes, int perSource, int expected)
    {
        var random = new Random(classes);
        double[][] gain = [.. Enumerable.Range(0, classes).Select(s => Enumerable.Range(0, classes).Select(t => s == t ? double.NegativeInfinity : random.NextDouble()).ToArray())];
        long[][] sources = [.. Enumerable.Range(0, classes).Select(k => new long[] { k })];
        (int Source, int Target)[] pairs = PrescreenedPairSearchProbe.Prescreen(gain, sources, perSource, 30);
        Assert.Equal(expected, pairs.Length);
        Assert.Equal(pairs.Length, pairs.Distinct().Count());
        Assert.All(pairs, p => Assert.NotEqual(p.Source, p.Target));
        Assert.Equal(pairs.OrderBy(p => p.Source).ThenBy(p => p.Target), pairs);
        Assert.All(pairs.GroupBy(p => p.Source), g => Assert.True(g.Count() <= perSource));
    }

    private static (int, int)[] Pairs(ProbeOutcome outcome) =>
        [.. outcome.Details["pairs"]!.AsArray().Select(p => ((int)p![0]!, (int)p[1]!))];

    private Task<ProbeOutcome> SearchAsync(ZooRecipe recipe, int seed) => ZooProbeRuns.RunAsync(new PrescreenedPairSearchProbe(), recipe, seed, output);
}
