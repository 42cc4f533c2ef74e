using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The litmus probe's plumbing: its features cannot tell which class is which (so the read-out cannot have learnt the
/// shadow models' targets), the patterns reach any image input in its own geometry and range, and the probe on a real
/// model says which patterns it used. How well it separates backdoored from clean models is measured on the zoo's
/// held-out splits (docs/probes.md), not asserted here.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class LitmusProbeTests
{
    [Fact]
    public void Features_DoNotDependOnWhichClassIsWhich()
    {
        // Fifty random answer matrices (seeded, of several shapes), each against a random relabelling of its classes.
        for (int seed = 0; seed < 50; seed++)
        {
            using var scope = torch.NewDisposeScope();
            var random = new Random(seed);
            int patterns = 1 + random.Next(8), classes = LitmusModel.TopPerPattern + random.Next(8);
            using var generator = new torch.Generator((ulong)seed);
            Tensor scores = 3 * torch.randn([patterns, classes], generator: generator);
            long[] permutation = [.. Enumerable.Range(0, classes).Select(c => (long)c).OrderBy(_ => random.Next())];
            Tensor relabelled = scores.index_select(1, torch.tensor(permutation));

            float[] features = LitmusModel.Features(scores).data<float>().ToArray();
            float[] relabelledFeatures = LitmusModel.Features(relabelled).data<float>().ToArray();

            Assert.Equal(LitmusModel.FeatureCount(patterns), features.Length);
            for (int i = 0; i < features.Length; i++)
            {
                Assert.True(Math.Abs(features[i] - relabelledFeatures[i]) <= 1e-4, $"seed {seed}, feature {i}: {features[i]} vs {relabelledFeatures[i]}");
            }

            // The agreed class follows its label: relabelled column j is original column permutation[j].
            Assert.Equal(LitmusModel.AgreedClass(scores), (int)permutation[LitmusModel.AgreedClass(relabelled)]);
        }
    }

    [Fact]
    public void Patterns_ReachAGreyInput_ResizedAveragedAndInItsRange()
    {
        using var scope = torch.NewDisposeScope();
        Tensor canonical = torch.stack([torch.full([3, 32, 32], 0.5f), torch.stack([torch.zeros(32, 32), torch.ones(32, 32), torch.ones(32, 32)])]);

        Tensor grey = LitmusModel.ForInput(canonical, channels: 1, height: 28, width: 28, low: -1, high: 2);

        Assert.Equal([2L, 1, 28, 28], grey.shape);
        // Mid-grey lands mid-range; a pattern of channel values 0, 1, 1 averages to 2/3 of the range.
        Assert.Equal(0.5f, grey[0].mean().item<float>(), 4);
        Assert.Equal(-1f + (3f * 2f / 3f), grey[1].mean().item<float>(), 4);
        Tensor colour = LitmusModel.ForInput(canonical, channels: 3, height: 32, width: 32, low: 0, high: 255);
        Assert.Equal(255f, colour[1, 2].max().item<float>(), 3);
        Assert.Equal(0f, colour[1, 0].max().item<float>(), 3);
    }

    [Fact]
    public async Task OnARealModel_ItReportsAProbability_AndWhichPatternsGaveIt()
    {
        LitmusModel? embedded = LitmusModel.Embedded();
        Assert.NotNull(embedded);
        var probe = new LitmusProbe();

        ProbeOutcome first = await probe.RunAsync(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.BadNets)), CancellationToken.None);
        ProbeOutcome second = await probe.RunAsync(ProbeHarness.Context(probe, TrojanFixtures.Get(TrojanFixtures.BadNets)), CancellationToken.None);

        Assert.NotEqual(Verdict.Inconclusive, first.Verdict);
        double probability = (double)first.Details["probability"]!;
        Assert.InRange(probability, 0, 1);
        Assert.Equal(probability >= 0.5 ? Verdict.Fail : Verdict.Pass, first.Verdict);
        Assert.Equal(embedded.Fingerprint(), (string)first.Details["modelSha256"]!);
        Assert.Equal(embedded.Patterns, first.Details["patternAnswers"]!.AsArray().Count);
        Assert.Equal(LitmusModel.FeatureCount(embedded.Patterns), first.Details["features"]!.AsArray().Count);
        Assert.Equal(probability, (double)second.Details["probability"]!);
    }
}
