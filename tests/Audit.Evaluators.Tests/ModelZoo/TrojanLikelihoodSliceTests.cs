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
/// A CI slice of the model zoo: the first clean and the first backdoored recipe of the test split (seeds 1 and 4, a grey
/// channels-first CNN, the backdoored one with a 3×3 checkerboard patch), trained here from their fixed seeds (cached
/// under the fixture cache), audited by trojan-likelihood through ProbeRunner as an audit runs it. With the fit of
/// 2026-11-30 09:53 (docs/probes.md, "Model zoo: results") the survey (one libtorch thread) and this test (default
/// threads) gave the same probabilities: 0.13 for the clean model (score 0.26 against the threshold 0.50, suspected
/// class 8) and 0.88 for the backdoored one (its target, 1); with the earlier, stale fit the two runs disagreed (0.08, 0.39
/// for the clean model), so the bounds below keep the margin they had rather than the one measured now. The fit of
/// 2026-12-01 (the grown design split) gives 0.08 and 0.84 in the survey; this test passed with it. The fit of
/// 2026-12-01 04:59 (logNormGap, saliency persistence, weight signature; survey on an Intel Xeon) gives 0.06 and 0.98;
/// this test passed with it. The fit of 2026-12-01 09:47 (five features, 114 design models) gives 0.03 and 0.99; this
/// test passed with it.
/// Cost on the shared 2-core machine: 2 min 47 s with training (load 21–24); with the models cached 1 min 6 s (load
/// 4–5) and, after merging the adversarial-sink branch, 38 s (load 6) with the same probabilities. `scripts/test.sh`
/// (hence CI) turns it on: the whole fresh-clone suite with it took 13 min 31 s on 2 idle cores (2026-11-30), within
/// the 20-minute budget now that the audits it runs beside are faster; elsewhere it stays opt-in.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TrojanLikelihoodSliceTests(ITestOutputHelper output)
{
    private const double CleanScoreCeiling = 0.6;

    private const double LogitGapFloor = 0.5;

    private static readonly int[] SliceSeeds = [1, 4];

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

        // The probe checks the model does its task on the evidence (the first 1,000 test images); the zoo's reading of
        // that check takes the accuracy on the 9,000 after them, so the two must agree to within their sampling error
        // (a binomial standard error of at most 1.6 points on 1,000 inputs; 5 points is three of them).
        var check = (System.Text.Json.Nodes.JsonObject)outcome.Details["taskCheck"]!;
        Assert.True((bool)check["aboveChance"]!, $"{recipe.Name}: {check.ToJsonString()}");
        Assert.InRange((double)check["accuracy"]!, model.CleanAccuracy - 0.05, model.CleanAccuracy + 0.05);

        // A supporting detector reads the audit's one check, not a second one, and on a working model runs as before.
        ProbeOutcome supporting = await session.RunAsync(
            new ProbeInvocation("neural-cleanse", new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
        Assert.Equal(check.ToJsonString(), supporting.Details["taskCheck"]!.ToJsonString());
        Assert.NotEqual(Verdict.Inconclusive, supporting.Verdict);
        Assert.NotNull(supporting.Details["statistic"]);
        return outcome;
    }
}
