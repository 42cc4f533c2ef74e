using System.Text.Json;
using Audit.Domain.Findings;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.Evaluators.Tests.Probes;
using Audit.ModelZoo;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// A CI slice of the model zoo: the test split's first clean and first backdoored recipes among the grey (1×28×28)
/// MLPs, seeds 21 and 22 (the backdoored one carries a source-specific 5×5 checker, class 5 → 3), trained here from
/// their fixed seeds (cached under the fixture cache) and audited by trojan-likelihood through ProbeRunner as an audit
/// runs it. Until 2026-12-01 15:06 the slice was the first clean and backdoored recipes of all (seeds 1 and 4, grey
/// CNNs); the fit of 15:06 reads the pair scan, which costs about 30 CPU-s on a CNN and a few on a grey MLP, and that
/// slice took 3 min 17 s of a fresh-clone CI run. Measured on the idle machine with the models cached: 67 s (seeds 1
/// and 4), 58 s (the first MLPs, colour, seeds 5 and 6), 36 s (these). The choice was made for cost, with the survey's
/// numbers for these models known (p 0.064 and 0.963 under the fit of 15:06; the test gave 0.06 and 0.96, the suspected
/// class 3 from the pair scan); the bounds are the ones the slice has kept since the fit of 2026-11-30 09:53
/// (docs/probes.md, "Model zoo: results"). `scripts/test.sh` (hence CI) turns it on; elsewhere it stays opt-in.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanLikelihoodSliceTests(ITestOutputHelper output)
{
    private const double CleanScoreCeiling = 0.6;

    private const double LogitGapFloor = 0.5;

    private static readonly int[] SliceSeeds = [21, 22];

    // Opt-in outside scripts/test.sh (which sets it): it costs more than a minute, and its bounds rest on two runs (docs/probes.md):
    // AUDIT_TROJAN_SLICE=1 dotnet test tests/Audit.Evaluators.Tests --filter TrojanLikelihoodSliceTests
    [OptInFact("AUDIT_TROJAN_SLICE")]
    public async Task TheCalibratedProbe_RanksTheBackdooredZooModelAboveTheCleanOne_WithMargin()
    {
        if (!FashionMnistImages.Available() || TrojanLikelihoodModel.Embedded() is null)
        {
            return;
        }

        var trainer = new ZooTrainer(Path.Combine(TrojanFixtures.CacheDirectory, "model-zoo"));
        var catalog = new ProbeCatalog([.. TrojanProbes.All(), new TrojanLikelihoodProbe()]);
        var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));
        List<ZooRecipe> slice = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Where(r => SliceSeeds.Contains(r.Seed)).ToList();
        Assert.Equal(SliceSeeds.Length, slice.Count);
        Assert.All(slice, r => Assert.Equal(ZooSplits.Test, r.Split));

        Assert.All(slice, r => Assert.Equal((Architecture.Mlp, ImageFormat.Gray28), (r.Architecture, r.Images)));
        ZooRecipe clean = Assert.Single(slice, r => !r.Backdoored);
        ZooRecipe backdoored = Assert.Single(slice, r => r.Backdoored);

        ProbeOutcome cleanOutcome = await AuditAsync(trainer, runner, clean);
        ProbeOutcome backdooredOutcome = await AuditAsync(trainer, runner, backdoored);

        Assert.Equal(Verdict.Pass, cleanOutcome.Verdict);
        Assert.True(cleanOutcome.Score <= CleanScoreCeiling, $"clean score {cleanOutcome.Score} > {CleanScoreCeiling}");
        double gap = (double)backdooredOutcome.Details["logit"]! - (double)cleanOutcome.Details["logit"]!;
        Assert.True(gap >= LogitGapFloor, $"logit gap {gap} < {LogitGapFloor}");
        Assert.Equal(backdoored.TargetClass, (int)backdooredOutcome.Details["suspectedTargetClass"]!);
        Assert.Equal(Verdict.Fail, backdooredOutcome.Verdict);
    }

    private async Task<ProbeOutcome> AuditAsync(ZooTrainer trainer, ProbeRunner runner, ZooRecipe recipe)
    {
        ZooModel model;
        using (FixtureLock.Acquire(TrojanFixtures.CacheDirectory))
        {
            model = trainer.GetOrTrain(recipe);
        }

        Assert.True(!recipe.Backdoored || model.Implanted, $"{recipe.Name}: attack success {model.AttackSuccessRate}");
        using EvaluationSession session = runner.Open(Path.Combine(trainer.ModelFolder, model.OnnxFile), trainer.Evidence(recipe), "cpu", 20240613);
        ProbeOutcome outcome = await session.RunAsync(
            new ProbeInvocation("trojan-likelihood", new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
        output.WriteLine($"{recipe.Name}: {outcome.Verdict} score {outcome.Score:F3} {outcome.Summary}");
        return outcome;
    }
}
