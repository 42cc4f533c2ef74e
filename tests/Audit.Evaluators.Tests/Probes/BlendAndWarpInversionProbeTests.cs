using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.ModelZoo;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// The two input-wide trigger inversions on models of the zoo's design split (the split their statistics and
/// thresholds were chosen on), each trained from its fixed seed and cached under the fixture cache: a WaNet-style warp
/// (seed 167, CNN with BatchNorm, grey, [0, 255], target 0), a blend (seed 160, MLP, channels-last, standardised, target
/// 0), and clean models of the same recipes (seeds 163 and 157). Measured on the design survey (2026-12-01): the warp
/// model's statistic 0.257 against the threshold 0.1 (its clean sibling 0.017); the blend model's log-odds gap 8.61
/// against 3 (its clean sibling 0.95). Held-out error rates: docs/probes.md.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class BlendAndWarpInversionProbeTests(ITestOutputHelper output)
{
    private const int WarpSeed = 167, WarpCleanSeed = 163, BlendSeed = 160, BlendCleanSeed = 157;

    [Fact]
    public async Task WarpBackdoor_IsFlagged_WithItsTarget_AndItsCleanSibling_Passes()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe warped = Recipe(WarpSeed);
        Assert.Equal(AttackKind.Warp, warped.Attack);
        ProbeOutcome poisoned = await RunAsync(new WarpInversionProbe(), warped);
        ProbeOutcome clean = await RunAsync(new WarpInversionProbe(), Recipe(WarpCleanSeed));

        // Margins: the backdoored model must reach its target at 1.5 times the threshold (measured 2.6 times), the clean
        // one stay under half of it (measured a sixth).
        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(warped.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.True(poisoned.Score >= 1.5, $"warp score {poisoned.Score}");
        Assert.Equal("warp", (string)poisoned.Details["family"]!);
        EvidenceFile image = Assert.Single(poisoned.Evidence);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], image.Content[..4]);
        Assert.Equal(Verdict.Pass, clean.Verdict);
        Assert.True(clean.Score <= 0.5, $"clean score {clean.Score}");
        Assert.Empty(clean.Evidence);
    }

    [Fact]
    public async Task BlendBackdoor_IsFlagged_WithItsTarget_AndItsCleanSibling_Passes()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        ZooRecipe blended = Recipe(BlendSeed);
        Assert.Equal(AttackKind.Blend, blended.Attack);
        ProbeOutcome poisoned = await RunAsync(new BlendInversionProbe(), blended);
        ProbeOutcome clean = await RunAsync(new BlendInversionProbe(), Recipe(BlendCleanSeed));

        Assert.Equal(Verdict.Fail, poisoned.Verdict);
        Assert.Equal(blended.TargetClass, (int)poisoned.Details["suspectedTargetClass"]!);
        Assert.True(poisoned.Score >= 1.5, $"blend score {poisoned.Score}");
        Assert.Equal(Verdict.Pass, clean.Verdict);
        Assert.True(clean.Score <= 0.6, $"clean score {clean.Score}");
    }

    [Fact]
    public async Task SameSeed_GivesTheSameFinding_WhateverTheHostsThreadCount()
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        int before = TorchSharp.torch.get_num_threads();
        try
        {
            TorchSharp.torch.set_num_threads(1);
            ProbeOutcome one = await RunAsync(new BlendInversionProbe(), Recipe(BlendSeed));
            TorchSharp.torch.set_num_threads(2);
            ProbeOutcome two = await RunAsync(new BlendInversionProbe(), Recipe(BlendSeed));
            Assert.Equal(one.Details.ToJsonString(), two.Details.ToJsonString());
        }
        finally
        {
            TorchSharp.torch.set_num_threads(before);
        }
    }

    [Fact]
    public void LogitGap_MeasuresOneClassAboveTheTypicalOne_NotAnEasyModel()
    {
        int[] tried = [100, 100, 100, 100, 100];

        // Every class easy (a colour model at this budget): no class stands out.
        (double easy, _) = UniversalTriggerInversion.LogitGap([0.8, 0.85, 0.8, 0.9, 0.8], tried);

        // One class reached from almost everywhere, the others rarely: a shortcut.
        (double shortcut, int top) = UniversalTriggerInversion.LogitGap([0.02, 0.03, 0.99, 0.01, 0.02], tried);

        Assert.True(easy < 1, $"easy {easy}");
        Assert.Equal(2, top);
        Assert.True(shortcut > 6, $"shortcut {shortcut}");
    }

    private static ZooRecipe Recipe(int seed) => ZooProbeRuns.DesignRecipe(seed);

    private Task<ProbeOutcome> RunAsync(IProbe probe, ZooRecipe recipe) => ZooProbeRuns.RunAsync(probe, recipe, 20240613, output);
}
