using System.Text.Json.Nodes;
using Audit.Evaluators.Probes.Trojans;
using Audit.ModelZoo;
using Audit.Testing;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// The survey committed under <c>benchmarks/model-zoo</c> (docs/probes.md, "The committed survey") is what later fits
/// and reports read instead of re-surveying for hours, so it must be a survey of today's catalog: every line one of the
/// catalog's recipes (or one its earlier sizes retired, which count in the fit), in the split its seed decides, with
/// the recipe's hash, once, and with every detector a survey runs. A change to the catalog or to a recipe's training makes this fail, which says the committed lines no
/// longer describe the models the catalog would train. The same holds for the 43-class slice's committed test split, and
/// the rates the embedded trojan-likelihood model states must be what the committed test split gives it.
/// </summary>
public sealed class CommittedSurveyTests
{
    private static readonly string Folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedCache);

    [Theory]
    [InlineData("design")]
    [InlineData("calibration")]
    [InlineData("test")]
    public void EveryCommittedLine_IsARecipeOfTodaysCatalog_InItsSplit_Once_WithEverySurveyedDetector(string split) =>
        AssertCommittedLinesDescribe(Folder, split, ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Concat(ZooCatalog.RetiredRecipes()));

    /// <summary>
    /// The 43-class slice's committed survey (docs/probes.md, "Beyond ten classes"), and its first survey kept beside it:
    /// only its test split was surveyed, every model of it, from the many-class catalog.
    /// </summary>
    [Theory]
    [InlineData(ZooOptions.CommittedManyClassCache, false)]
    [InlineData(ZooOptions.ManyClassUnderLibtorchKernelsCache, true)]
    public void TheCommittedManyClassTestSplit_IsEveryRecipeOfItOnce_WithEverySurveyedDetector(string cache, bool firstTestSizeOnly)
    {
        string folder = Path.Combine(RepositoryRoot.Folder, cache);
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(firstTestSizeOnly ? ZooCatalog.ManyClassFirstTestSizes : ZooCatalog.ManyClassSizes, manyClasses: true);

        AssertCommittedLinesDescribe(folder, ZooSplits.Test, recipes);
        Assert.Equal(
            recipes.Where(r => r.Split == ZooSplits.Test).Select(r => r.Name).Order(StringComparer.Ordinal),
            ZooSurvey.Read(folder, ZooSplits.Test).Select(r => r.Name).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The crossed slice's committed survey (benchmarks/model-zoo-crossed, docs/probes.md "Attacks on architectures the
    /// zoo never pairs them with"): every recipe of each committed split once, with every detector.
    /// </summary>
    [Theory]
    [InlineData(ZooSplits.Test)]
    [InlineData(ZooSplits.Design)]
    [InlineData(ZooSplits.Calibration)]
    public void TheCommittedCrossedSlice_IsEveryRecipeOfItOnce_WithEverySurveyedDetector(string split)
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedCrossedCache);
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.CrossedRecipes(split);

        AssertCommittedLinesDescribe(folder, split, recipes);
        Assert.Equal(
            recipes.Select(r => r.Name).Order(StringComparer.Ordinal),
            ZooSurvey.Read(folder, split).Select(r => r.Name).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The unfamiliar-recipes slice's committed survey (benchmarks/model-zoo-unfamiliar, docs/probes.md "Models trained
    /// by recipes the catalog never uses"): every recipe of it once, with every detector.
    /// </summary>
    /// <summary>The finding says when its evidence is smaller than the zoo's: that size must be the one the zoo audits with.</summary>
    [Fact]
    public void TheEvidenceSizeTheFindingQuotes_IsTheZoos() =>
        Assert.Equal(ZooTrainer.EvidenceCount, TrojanLikelihoodProbe.RatesEvidenceInputs);

    [Fact]
    public void TheCommittedUnfamiliarSlice_IsEveryRecipeOfItOnce_WithEverySurveyedDetector()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedUnfamiliarCache);
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.UnfamiliarRecipes();

        AssertCommittedLinesDescribe(folder, ZooSplits.Test, recipes);
        Assert.Equal(
            recipes.Select(r => r.Name).Order(StringComparer.Ordinal),
            ZooSurvey.Read(folder, ZooSplits.Test).Select(r => r.Name).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The fresh models read once (docs/probes.md, "Fresh models, read once") are the test recipes the catalog gained
    /// from its 72 + 54 size to 108 + 81, and their lines joined the committed test split unchanged.
    /// </summary>
    [Fact]
    public void TheFreshModels_AreTheTestRecipesGainedOver72And54_AndTheirLinesJoinedTheTestSplitUnchanged()
    {
        string fresh = Path.Combine(RepositoryRoot.Folder, ZooOptions.FreshCache);
        AssertGainedAndJoined(fresh, CatalogWithTestSize(72, 54), CatalogWithTestSize(108, 81), 80);
    }

    /// <summary>
    /// The sealed models (docs/probes.md, "Sealed models") are every test recipe the catalog gained from its 108 + 81
    /// size to 144 + 108, once, with every detector; read once for the candidate of 2026-12-04, their lines then joined
    /// the committed test split unchanged.
    /// </summary>
    [Fact]
    public void TheSealedModels_AreTheTestRecipesGainedOver108And81_AndTheirLinesJoinedTheTestSplitUnchanged() =>
        AssertGainedAndJoined(Path.Combine(RepositoryRoot.Folder, ZooOptions.SealedCache), CatalogWithTestSize(108, 81), CatalogWithTestSize(144, 108), 89);

    /// <summary>
    /// The second sealed models (docs/probes.md, "The next sealed models") are every test recipe the catalog gained
    /// from 144 + 108 to 180 + 135, once, with every detector; read once for the crossed refit candidate of
    /// 2026-12-05, their lines then joined the committed test split unchanged.
    /// </summary>
    [Fact]
    public void TheSecondSealedModels_AreTheTestRecipesGainedOver144And108_AndTheirLinesJoinedTheTestSplitUnchanged() =>
        AssertGainedAndJoined(Path.Combine(RepositoryRoot.Folder, ZooOptions.SecondSealedCache), CatalogWithTestSize(144, 108), CatalogWithTestSize(180, 135), 98);

    /// <summary>
    /// The third sealed models (docs/probes.md, "The third sealed models") are every test recipe the catalog gained
    /// from 180 + 135 to today's 216 + 162, once, with every detector; read once for the contrastive-search candidate of
    /// 2026-12-05, their lines then joined the committed test split unchanged.
    /// </summary>
    [Fact]
    public void TheThirdSealedModels_AreTheTestRecipesGainedOver180And135_AndTheirLinesJoinedTheTestSplitUnchanged() =>
        AssertGainedAndJoined(Path.Combine(RepositoryRoot.Folder, ZooOptions.ThirdSealedCache), CatalogWithTestSize(180, 135), CatalogWithTestSize(216, 162), 107);

    /// <summary>
    /// The fourth to eleventh sealed models (docs/probes.md, "The fourth sealed models" to "The eleventh sealed models")
    /// are every test recipe the catalog gained from one test size to the next, once, with every detector, each line
    /// read on one model under oneDNN's AVX kernels; each set was read once for the candidate of its day (the one-model
    /// refit, 2026-12-05; the fit in use's rates on unseen models, 2026-12-06; the grown calibration, that evening; the
    /// fit without saliency persistence, that night; the task check against one half, 2026-12-07; the fit with the
    /// pre-screened pair search, that evening; the fit with the pair search beside blend inversion, that night; the fit in
    /// use or the pair search by a union bound, later that night), and its lines then joined the committed test split
    /// unchanged (the ninth's with the pair search's results joined in).
    /// </summary>
    [Theory]
    [InlineData(ZooOptions.FourthSealedCache, 216, 162, 234, 180, 89)]
    [InlineData(ZooOptions.FifthSealedCache, 234, 180, 270, 216, 125)]
    [InlineData(ZooOptions.SixthSealedCache, 270, 216, 306, 252, 125)]
    [InlineData(ZooOptions.SeventhSealedCache, 306, 252, 342, 288, 125)]
    [InlineData(ZooOptions.EighthSealedCache, 342, 288, 378, 324, 125)]
    [InlineData(ZooOptions.NinthSealedCache, 378, 324, 414, 360, 125)]
    [InlineData(ZooOptions.TenthSealedCache, 414, 360, 450, 396, 125)]
    [InlineData(ZooOptions.EleventhSealedCache, 450, 396, 486, 432, 125)]
    public void TheLaterSealedModels_AreTheTestRecipesGainedOverTheirSize_OnOneDnnAvx_AndTheirLinesJoinedTheTestSplitUnchanged(
        string cache, int fromClean, int fromBackdoored, int toClean, int toBackdoored, int lines)
    {
        string folder = Path.Combine(RepositoryRoot.Folder, cache);
        AssertGainedAndJoined(folder, CatalogWithTestSize(fromClean, fromBackdoored), CatalogWithTestSize(toClean, toBackdoored), lines);
        AssertReadUnderOneDnnAvx(ZooSurvey.Read(folder, ZooSplits.Test));
    }

    /// <summary>
    /// The twelfth sealed models (benchmarks/model-zoo-sealed-522-468/README.md) are test recipes the catalog would gain
    /// from 486 + 432 to 522 + 468, once each, with every detector and the pre-screened pair search, each line read on
    /// one model under oneDNN's AVX kernels, committed unread and apart from the test split (which the stated rates are
    /// read from).
    /// </summary>
    [Fact]
    public void TheTwelfthSealedModels_AreTestRecipesGainedOver486And432_OnOneDnnAvx_WithThePairSearch_AndNotInTheTestSplit()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.TwelfthSealedCache);
        IReadOnlyList<SplitSize> grown = [.. ZooCatalog.DefaultSizes.Where(s => s.Split != ZooSplits.Test), new SplitSize(ZooSplits.Test, 522, 468)];
        List<SurveyRecord> records = AssertGained(folder, CatalogWithTestSize(486, 432), grown, 125);

        Assert.All(records, r => Assert.True(r.Probes.ContainsKey("prescreened-pair-search"), $"{r.Name} lacks the pair search."));
        AssertReadUnderOneDnnAvx(records);
        var tested = ZooSurvey.Read(Folder, ZooSplits.Test).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        Assert.All(records, r => Assert.DoesNotContain(r.Name, tested));
    }

    /// <summary>
    /// The grown-calibration candidate's lines (benchmarks/model-zoo-calibration-240-16/README.md) are exactly the 100
    /// clean calibration recipes the catalog would gain from 140 + 16 to 240 + 16, each once, every detector, each read
    /// on one model under oneDNN's AVX kernels, and none of them a recipe of the committed calibration split or a retired
    /// one (the candidate was dropped, so the catalog keeps 140 + 16).
    /// </summary>
    [Fact]
    public void TheGrownCalibrationLines_AreTheHundredCleanCalibrationRecipesGainedAt240And16_OnOneDnnAvx()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.GrownCalibrationCache);
        IReadOnlyList<SplitSize> grown = [.. ZooCatalog.DefaultSizes.Where(s => s.Split != ZooSplits.Calibration), new SplitSize(ZooSplits.Calibration, 240, 16)];
        List<SurveyRecord> records = AssertGained(folder, ZooCatalog.DefaultSizes, grown, 100, ZooSplits.Calibration);

        var retired = ZooCatalog.RetiredRecipes().Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        Assert.All(records, r => Assert.False(r.Recipe.Backdoored, r.Name));
        Assert.All(records, r => Assert.DoesNotContain(r.Name, retired));
        AssertReadUnderOneDnnAvx(records);
    }

    /// <summary>
    /// The 36 sealed 43-class models read once for the threshold calibrated on 43-class models
    /// (benchmarks/model-zoo-many-class-sealed): exactly the test recipes the slice gains from 18 + 18 to 36 + 36, each
    /// once with every detector, under oneDNN AVX wherever a detector searched, and each line joined unchanged to the
    /// slice's committed test split, whose rates every finding states.
    /// </summary>
    [Fact]
    public void TheSealedManyClassModels_AreTheTestRecipesGainedOver18And18_OnOneDnnAvx_AndJoinedToTheTestSplit()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.ManyClassSealedCache);
        var earlier = ZooCatalog.Recipes(ZooCatalog.ManyClassFirstTestSizes, manyClasses: true).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        List<ZooRecipe> gained = [.. ZooCatalog.Recipes(ZooCatalog.ManyClassSizes, manyClasses: true).Where(r => r.Split == ZooSplits.Test && !earlier.Contains(r.Name))];
        List<SurveyRecord> records = ZooSurvey.Read(folder, ZooSplits.Test);

        AssertCommittedLinesDescribe(folder, ZooSplits.Test, gained);
        Assert.Equal(36, records.Count);
        Assert.Equal(gained.Select(r => r.Name).Order(StringComparer.Ordinal), records.Select(r => r.Name).Order(StringComparer.Ordinal));
        AssertReadUnderOneDnnAvx(records);
        // The slice's lines gained the pre-screened pair search's results on 2026-12-07 (night); the rest is the sealed line.
        var joined = File.ReadAllLines(Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedManyClassCache, "survey", "test.jsonl")).Select(WithoutProbesAddedLater).ToHashSet(StringComparer.Ordinal);
        Assert.All(File.ReadAllLines(Path.Combine(folder, "survey", "test.jsonl")), line => Assert.Contains(WithoutProbesAddedLater(line), joined));
    }

    /// <summary>
    /// The same 89 model files surveyed again under oneDNN's own kernels (docs/probes.md, "The same models under AVX-512
    /// kernels"): every recipe of the fourth sealed set once, every detector, none of it under the AVX limit, and each
    /// line read the very model file its AVX line read (the contrastive search records the weights' SHA-256).
    /// </summary>
    [Fact]
    public void TheFourthSealedModelsUnderDefaultKernels_AreTheSameModelFiles_ReadWithoutTheAvxLimit()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.FourthSealedDefaultKernelsCache);
        List<SurveyRecord> avx = ZooSurvey.Read(Path.Combine(RepositoryRoot.Folder, ZooOptions.FourthSealedCache), ZooSplits.Test);
        List<SurveyRecord> records = ZooSurvey.Read(folder, ZooSplits.Test);

        AssertCommittedLinesDescribe(folder, ZooSplits.Test, avx.Select(r => r.Recipe));
        Assert.Equal(avx.Select(r => r.Name).Order(StringComparer.Ordinal), records.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.All(records, r => Assert.False(ReadUnderOneDnnAvx(r), $"{r.Name} ran on {KernelsOf(r)}."));
        Dictionary<string, string?> weights = avx.ToDictionary(r => r.Name, ModelWeights, StringComparer.Ordinal);
        Assert.All(records, r => Assert.NotNull(ModelWeights(r)));
        Assert.All(records, r => Assert.Equal(weights[r.Name], ModelWeights(r)));
    }

    /// <summary>
    /// The 43-class slice's design and calibration splits (surveyed 2026-12-06 under oneDNN's AVX kernels, as its test
    /// lines; the design split to decide the class-count correction, benchmarks/model-zoo-many-class-design/README.md):
    /// every recipe of the split once, with every detector. No fit reads them.
    /// </summary>
    [Theory]
    [InlineData(ZooSplits.Design)]
    [InlineData(ZooSplits.Calibration)]
    public void TheCommittedManyClassSplit_IsEveryRecipeOfItOnce_WithEveryDetector_UnderAvx(string split)
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedManyClassCache);
        IReadOnlyList<ZooRecipe> recipes = ZooCatalog.Recipes(ZooCatalog.ManyClassSizes, manyClasses: true);

        AssertCommittedLinesDescribe(folder, split, recipes);
        Assert.Equal(
            recipes.Where(r => r.Split == split).Select(r => r.Name).Order(StringComparer.Ordinal),
            ZooSurvey.Read(folder, split).Select(r => r.Name).Order(StringComparer.Ordinal));
        AssertReadUnderOneDnnAvx(ZooSurvey.Read(folder, split));
    }

    /// <summary>
    /// The fit in use is the fit of the one-model lines (benchmarks/model-zoo-one-model): its design lines are the design
    /// split under AVX with the contrastive results joined, its calibration lines the 67 calibration recipes trained and
    /// surveyed again under AVX with every detector (grown since), and fitting the embedded model's features on them,
    /// less the models the task check stops as the fit leaves them out, gives the embedded coefficients,
    /// standardisation, Platt parameters and calibration probabilities again, so every number of the verdict's model can
    /// be recomputed from the repository.
    /// </summary>
    [Fact]
    public void TheFitInUse_IsWhatTheOneModelLinesGive_OnTheCommittedRecipesUnderAvx()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.OneModelCache);
        IEnumerable<ZooRecipe> recipes = ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Concat(ZooCatalog.RetiredRecipes());
        AssertCommittedLinesDescribe(folder, ZooSplits.Design, recipes);
        AssertCommittedLinesDescribe(folder, ZooSplits.Calibration, recipes);
        List<SurveyRecord> design = ZooSurvey.Read(folder, ZooSplits.Design);
        List<SurveyRecord> calibration = ZooSurvey.Read(folder, ZooSplits.Calibration);
        Assert.Equal(
            ZooSurvey.Read(Folder, ZooSplits.Calibration).Select(r => r.Name).Order(StringComparer.Ordinal),
            calibration.Select(r => r.Name).Order(StringComparer.Ordinal));
        AssertReadUnderOneDnnAvx(design.Concat(calibration));

        if (!FashionMnistImages.Available())
        {
            return; // the fit leaves out the models the task check stops, and the check reads the evidence's labels
        }

        ZooTaskCheck check = TaskCheck(folder);
        design = [.. design.Where(r => check.Of(r).AboveLevel)];
        calibration = [.. calibration.Where(r => check.Of(r).AboveLevel)];
        TrojanLikelihoodModel embedded = TrojanLikelihoodModel.Embedded()!;
        IReadOnlyDictionary<string, double> imputed = ZooFit.ImputationMeans(design, embedded.Features);
        TrojanLikelihoodModel refit = ZooFit.Fit(
            embedded.Features,
            [.. ZooFit.Labelled(design, embedded.Features, imputed).Select(d => (d.Features, d.Label))],
            [.. ZooFit.Labelled(calibration, embedded.Features, imputed).Select(c => (c.Features, c.Label))],
            embedded.Generated);

        Assert.Equal(embedded.Means, refit.Means);
        Assert.Equal(embedded.Scales, refit.Scales);
        Assert.Equal(embedded.Coefficients, refit.Coefficients);
        Assert.Equal(embedded.Intercept, refit.Intercept);
        Assert.Equal(embedded.PlattSlope, refit.PlattSlope);
        Assert.Equal(embedded.PlattIntercept, refit.PlattIntercept);
        Assert.Equal(embedded.CalibrationCleanProbabilities, refit.CalibrationCleanProbabilities);
    }

    /// <summary>
    /// The pair-search lines (what the candidates with the pair search were fitted on) are the fit in use's one-model
    /// lines and nothing else once the pair search's result is set aside: the same recipes, models and every other
    /// detector's result, so a candidate's sixth feature is the only thing it read that the fit in use did not.
    /// </summary>
    [Theory]
    [InlineData(ZooSplits.Design)]
    [InlineData(ZooSplits.Calibration)]
    public void ThePairSearchLines_AreTheOneModelLinesWithThePairSearchAdded(string split)
    {
        const string Probe = "prescreened-pair-search";
        string[] oneModel = File.ReadAllLines(Path.Combine(RepositoryRoot.Folder, ZooOptions.OneModelCache, "survey", split + ".jsonl"));
        string[] pairSearch = File.ReadAllLines(Path.Combine(RepositoryRoot.Folder, ZooOptions.PairSearchCache, "survey", split + ".jsonl"));

        Assert.Equal(oneModel.Length, pairSearch.Length);
        for (int i = 0; i < oneModel.Length; i++)
        {
            JsonNode added = JsonNode.Parse(pairSearch[i])!;
            JsonObject probes = added["probes"]!.AsObject();
            // A model the task check stops gets no statistic from the probe (inconclusive), as in an audit.
            JsonNode? result = probes[Probe];
            Assert.True(
                result?["details"]?["statistic"] is JsonValue || (string?)result?["verdict"] == "inconclusive",
                $"{split} line {i + 1}: {Probe} gave neither a statistic nor inconclusive");
            Assert.False(JsonNode.Parse(oneModel[i])!["probes"]!.AsObject().ContainsKey(Probe));
            probes.Remove(Probe);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(oneModel[i]), added), $"{split} line {i + 1} ({added["name"]}) differs beyond {Probe}");
        }
    }

    /// <summary>
    /// The design split surveyed again under the kernels the service chooses (docs/probes.md, "Under the kernels the
    /// service now chooses"): the same recipes as the committed design split, each once, with every detector, and every
    /// line's Neural Cleanse finding records that oneDNN ran limited to AVX, where the committed lines record
    /// libtorch's own kernels.
    /// </summary>
    [Fact]
    public void TheDesignSplitUnderTheChosenKernels_IsTheCommittedDesignSplitsRecipes_OnOneDnnAvx()
    {
        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.DesignUnderChosenKernelsCache);

        AssertCommittedLinesDescribe(folder, ZooSplits.Design, ZooCatalog.Recipes(ZooCatalog.DefaultSizes).Concat(ZooCatalog.RetiredRecipes()));
        List<SurveyRecord> resurveyed = ZooSurvey.Read(folder, ZooSplits.Design);
        Assert.Equal(
            ZooSurvey.Read(Folder, ZooSplits.Design).Select(r => r.Name).Order(StringComparer.Ordinal),
            resurveyed.Select(r => r.Name).Order(StringComparer.Ordinal));
        AssertReadUnderOneDnnAvx(resurveyed);
        Assert.All(ZooSurvey.Read(Folder, ZooSplits.Design), r => Assert.StartsWith(
            "libtorch native",
            KernelsOf(r),
            StringComparison.Ordinal));
    }

    /// <summary>trojan-likelihood's check that a model does its task, as the stated rates count it (the evidence labels come from Fashion-MNIST).</summary>
    private static ZooTaskCheck TaskCheck(string folder) => new(new ZooTrainer(folder));

    /// <summary>The embedded model and the rates it gets, as an audit reads them, on a committed cache's test lines.</summary>
    private static (TrojanLikelihoodModel Model, LikelihoodTestRates Measured) EmbeddedModelOnCommittedTestSplit(string cache)
    {
        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;
        string folder = Path.Combine(RepositoryRoot.Folder, cache);
        return (model, ZooFit.MeasureOn(model, ZooSurvey.Read(folder, ZooSplits.Test), TaskCheck(folder)));
    }

    /// <summary>
    /// The catalog (today's or an earlier one) whose test split had this size: named by size, so these tests need no
    /// change when a later set joins and every earlier catalog moves one place down <see cref="ZooCatalog.EarlierSizes"/>.
    /// The latest such catalog: 270 + 216 stood beside two calibration sizes (40 + 16, then 140 + 16), and a seed's split
    /// and recipe do not depend on another split's size, so their test recipes are the same.
    /// </summary>
    private static IReadOnlyList<SplitSize> CatalogWithTestSize(int clean, int backdoored) =>
        ZooCatalog.EarlierSizes.Append(ZooCatalog.DefaultSizes)
            .Last(sizes => sizes.Any(s => s.Split == ZooSplits.Test && s.Clean == clean && s.Backdoored == backdoored));

    /// <summary>The SHA-256 of the weights the line's contrastive search read (mark-models.py), null when not recorded.</summary>
    private static string? ModelWeights(SurveyRecord record) =>
        record.Probes.TryGetValue("contrastive-patch", out var result) && result.Details?["modelRead"]?["weightsSha256"] is { } sha
            ? sha.GetValue<string>()
            : null;

    /// <summary>The convolution kernels the line's Neural Cleanse finding records having run on.</summary>
    private static string KernelsOf(SurveyRecord record) =>
        record.Probes["neural-cleanse"].Details!["reproducibility"]!["convolutionKernels"]!.GetValue<string>();

    /// <summary>Whether oneDNN ran limited to AVX (the kernels the fit's lines share).</summary>
    private static bool ReadUnderOneDnnAvx(SurveyRecord record) =>
        KernelsOf(record).Contains("limited to the AVX instruction set", StringComparison.Ordinal);

    /// <summary>
    /// Every line's Neural Cleanse finding records that oneDNN ran limited to AVX, except a line whose every detector
    /// stopped on the task check (a model at chance; docs/probes.md, "The supporting detectors on models at chance"):
    /// it ran no search, so it records no kernels.
    /// </summary>
    private static void AssertReadUnderOneDnnAvx(IEnumerable<SurveyRecord> records) =>
        Assert.All(records.Where(r => !StoppedByTheTaskCheck(r)), r => Assert.True(ReadUnderOneDnnAvx(r), $"{r.Name} ran on {KernelsOf(r)}."));

    /// <summary>Every detector of the line answered inconclusive, Neural Cleanse on the task check.</summary>
    private static bool StoppedByTheTaskCheck(SurveyRecord record) => record.StoppedByTheTaskCheck;

    /// <summary>
    /// A set read once apart: its lines are exactly the test recipes <paramref name="larger"/> holds and
    /// <paramref name="smaller"/> did not, <paramref name="count"/> of them, and each is a line of the committed test split.
    /// </summary>
    private static void AssertGainedAndJoined(string folder, IReadOnlyList<SplitSize> smaller, IReadOnlyList<SplitSize> larger, int count)
    {
        AssertGained(folder, smaller, larger, count);
        var testLines = File.ReadAllLines(Path.Combine(Folder, "survey", "test.jsonl")).Select(WithoutProbesAddedLater).ToHashSet(StringComparer.Ordinal);
        Assert.All(File.ReadAllLines(Path.Combine(folder, "survey", "test.jsonl")), line => Assert.Contains(WithoutProbesAddedLater(line), testLines));
    }

    /// <summary>
    /// The set's committed lines of <paramref name="split"/> (the test split unless named) are exactly the recipes of that
    /// split the catalog gains from <paramref name="smaller"/> to <paramref name="larger"/>, each once,
    /// <paramref name="count"/> in all; returns them.
    /// </summary>
    private static List<SurveyRecord> AssertGained(string folder, IReadOnlyList<SplitSize> smaller, IReadOnlyList<SplitSize> larger, int count, string split = ZooSplits.Test)
    {
        var earlier = ZooCatalog.Recipes(smaller).Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        List<ZooRecipe> gained = [.. ZooCatalog.Recipes(larger).Where(r => r.Split == split && !earlier.Contains(r.Name))];
        List<SurveyRecord> records = ZooSurvey.Read(folder, split);

        AssertCommittedLinesDescribe(folder, split, gained);
        Assert.Equal(count, records.Count);
        Assert.Equal(gained.Select(r => r.Name).Order(StringComparer.Ordinal), records.Select(r => r.Name).Order(StringComparer.Ordinal));
        return records;
    }

    /// <summary>
    /// A survey line without the detectors added to the committed lines after a set was read apart
    /// (<c>survey --add-probe</c>, benchmarks/model-zoo-contrast/join-probe.py; the adversarial sink on 2026-12-06,
    /// docs/probes.md "adversarial-sink"; the pre-screened pair search on 2026-12-07, joined to every test split that night):
    /// the rest must be the set's line unchanged.
    /// </summary>
    private static string WithoutProbesAddedLater(string line)
    {
        JsonNode record = JsonNode.Parse(line)!;
        record["probes"]!.AsObject().Remove("contrastive-patch");
        record["probes"]!.AsObject().Remove("adversarial-sink");
        record["probes"]!.AsObject().Remove("prescreened-pair-search");
        return record.ToJsonString();
    }

    private static void AssertCommittedLinesDescribe(string folder, string split, IEnumerable<ZooRecipe> recipes)
    {
        string file = Path.Combine(folder, "survey", split + ".jsonl");
        Assert.True(File.Exists(file), $"{file} is missing: the committed survey has a file per split.");
        List<SurveyRecord> records = ZooSurvey.Read(folder, split);
        Assert.NotEmpty(records);
        Dictionary<string, ZooRecipe> catalog = recipes.ToDictionary(r => r.Name, StringComparer.Ordinal);

        Assert.Equal(records.Count, records.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count());
        Assert.All(records, record =>
        {
            Assert.True(catalog.TryGetValue(record.Name, out ZooRecipe? recipe), $"{record.Name} is not a recipe of today's catalog.");
            Assert.Equal(split, record.Split);
            Assert.Equal(recipe!.Split, record.Split);
            Assert.Equal(recipe, record.Recipe);
            Assert.Equal(recipe.ComputeHash(), record.Hash);
            Assert.All(ZooSurvey.Detectors.Except(ZooSurvey.JoinedLater), d => Assert.True(record.Probes.ContainsKey(d), $"{record.Name} lacks {d}."));
        });
    }

    /// <summary>
    /// The fit in use was chosen and calibrated on every committed design and calibration line: each carries every
    /// detector it reads, a detector that joined later included (only test lines may still lack one, and are then left
    /// out of its stated rates).
    /// </summary>
    [Fact]
    public void TheDesignAndCalibrationLines_CarryEveryDetectorTheFitInUseReads()
    {
        IReadOnlyList<string> read = TrojanLikelihoodFeatures.DetectorsFor(TrojanLikelihoodModel.Embedded()!.Features);

        foreach (string split in new[] { ZooSplits.Design, ZooSplits.Calibration })
        {
            Assert.All(ZooSurvey.Read(Folder, split), r => Assert.All(read, d => Assert.True(r.Probes.ContainsKey(d), $"{r.Name} lacks {d}.")));
        }
    }

    /// <summary>
    /// Of the splits the fit and its conformal threshold stand on, trojan-likelihood's task check stops only models wrong
    /// on most of their evidence (docs/probes.md, "Models at chance accuracy" and "Models wrong on most of their
    /// evidence"): the design split's backdoored colour MLP s199 (18 %), and the calibration split's clean colour MLPs
    /// s282 (20 %) and s316 (35 %), which the fit leaves out as the probe does. A zoo grown with other such models there
    /// changes these names, and the fit with them.
    /// </summary>
    [Theory]
    [InlineData(ZooOptions.CommittedCache, ZooSplits.Design, "mlp-rgb32-byte-patch-s199")]
    [InlineData(ZooOptions.CommittedCache, ZooSplits.Calibration, "mlp-rgb32-byte-clean-s282,mlp-rgb32-nhwc-byte-clean-s316")]
    [InlineData(ZooOptions.DesignUnderChosenKernelsCache, ZooSplits.Design, "mlp-rgb32-byte-patch-s199")]
    [InlineData(ZooOptions.OneModelCache, ZooSplits.Design, "mlp-rgb32-byte-patch-s199")]
    [InlineData(ZooOptions.OneModelCache, ZooSplits.Calibration, "mlp-rgb32-byte-clean-s282,mlp-rgb32-nhwc-byte-clean-s316")]
    public void TheTaskCheck_StopsOnlyModelsWrongOnMostOfTheirEvidence_OfTheSplitsTheFitStandsOn(string cache, string split, string stoppedNames)
    {
        if (!FashionMnistImages.Available())
        {
            return; // as above
        }

        string folder = Path.Combine(RepositoryRoot.Folder, cache);
        ZooTaskCheck check = TaskCheck(folder);
        IReadOnlyList<SurveyRecord> records = ZooSurvey.Read(folder, split);

        List<SurveyRecord> stopped = [.. records.Where(r => !check.Of(r).AboveLevel)];

        Assert.Equal(stoppedNames.Split(','), stopped.Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.All(stopped, r => Assert.True(r.CleanAccuracy < 0.5 && check.Of(r).AboveChance, $"{r.Name}: accuracy {r.CleanAccuracy:P1}"));
    }

    /// <summary>
    /// The check reads the test split as the probe does: the models whose accuracy is within three binomial errors of
    /// the level it tests against (the larger of always answering the commonest label and one half) are stopped, and
    /// none above it; among the stopped, some are above chance (wrong on most inputs) and some at it (collapsed).
    /// </summary>
    [Fact]
    public void TheTaskCheck_StopsTheTestSplitsModelsNotDoingTheirTask_AndNoOther()
    {
        if (!FashionMnistImages.Available())
        {
            return; // as above
        }

        ZooTaskCheck check = TaskCheck(Folder);
        IReadOnlyList<SurveyRecord> records = ZooSurvey.Read(Folder, ZooSplits.Test);

        var stopped = records.Where(r => !check.Of(r).AboveLevel).ToList();

        Assert.Contains(stopped, r => check.Of(r).AboveChance);
        Assert.Contains(stopped, r => !check.Of(r).AboveChance);
        Assert.All(stopped, r => Assert.True(r.CleanAccuracy < AboveLevelBy(r, 3.5), r.Name));
        Assert.All(records.Except(stopped), r => Assert.True(r.CleanAccuracy > AboveLevelBy(r, 2.5), r.Name));

        // The level plus that many binomial standard errors of the evidence's count.
        double AboveLevelBy(SurveyRecord r, double errors)
        {
            double level = check.Of(r).Level;
            return level + (errors * Math.Sqrt(level * (1 - level) / ZooTrainer.EvidenceCount));
        }
    }

    /// <summary>
    /// The rates every trojan-likelihood finding and report states (the embedded model's <c>test</c>) are what the
    /// committed test split gives that model, so anyone can recompute them from the repository (`remeasure`, or
    /// `report --split test`). A re-surveyed test split or a refit that is not remeasured fails here.
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsStatedTestRates_AreWhatTheCommittedTestSplitGivesIt()
    {
        if (!FashionMnistImages.Available())
        {
            return; // the task check reads the evidence's labels (scripts/test.sh installs the dataset)
        }

        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;

        LikelihoodTestRates measured = ZooFit.MeasureOn(model, ZooSurvey.Read(Folder, ZooSplits.Test), TaskCheck(Folder));

        Assert.Equal(measured, model.Test);
        // The breakdowns partition the totals: every test model counted once by attack and once by architecture.
        Assert.Equal((measured.Backdoored, measured.Detected, measured.RightTarget),
            (measured.ByAttack!.Sum(a => a.Backdoored), measured.ByAttack!.Sum(a => a.Detected), measured.ByAttack!.Sum(a => a.RightTarget)));
        Assert.Equal((measured.Clean, measured.FalseFails, measured.Backdoored, measured.Detected),
            (measured.ByArchitecture!.Sum(a => a.Clean), measured.ByArchitecture!.Sum(a => a.FalseFails), measured.ByArchitecture!.Sum(a => a.Backdoored), measured.ByArchitecture!.Sum(a => a.Detected)));
        Assert.Contains("remeasure on " + ZooOptions.CommittedCache + "/survey/test.jsonl", model.TestMeasured, StringComparison.Ordinal);
    }

    /// <summary>
    /// The 43-class rates every finding states beside the ten-class ones are what the committed 43-class test split
    /// gives the embedded model (`remeasure --catalog many-class`).
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsStatedManyClassRates_AreWhatTheCommittedManyClassTestSplitGivesIt()
    {
        if (!FashionMnistImages.Available())
        {
            return; // as above
        }

        (TrojanLikelihoodModel model, LikelihoodTestRates measured) = EmbeddedModelOnCommittedTestSplit(ZooOptions.CommittedManyClassCache);

        if (measured.Clean + measured.Backdoored == 0)
        {
            // A fit reading a detector the slice was not surveyed with has no rates there, and states none.
            Assert.Null(model.ManyClassTest);
            Assert.Null(model.ManyClassTestMeasured);
            return;
        }

        Assert.Equal(measured, model.ManyClassTest);
        Assert.Contains("remeasure --catalog many-class on " + ZooOptions.CommittedManyClassCache + "/survey/test.jsonl", model.ManyClassTestMeasured, StringComparison.Ordinal);
    }

    /// <summary>
    /// The clean probabilities a many-class model is thresholded against are what the committed 43-class design and
    /// calibration lines give the embedded model, less the models the task check stops (`calibrate --catalog many-class`;
    /// benchmarks/model-zoo-many-class-sealed), so the threshold can be recomputed from the repository.
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsManyClassCalibration_IsWhatTheCommittedManyClassDesignAndCalibrationLinesGiveIt()
    {
        if (!FashionMnistImages.Available())
        {
            return; // as above
        }

        string folder = Path.Combine(RepositoryRoot.Folder, ZooOptions.CommittedManyClassCache);
        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;
        List<SurveyRecord> surveyed = [.. ZooSurvey.Read(folder, ZooSplits.Design), .. ZooSurvey.Read(folder, ZooSplits.Calibration)];

        double[]? expected = ZooFit.ManyClassCalibration(model, surveyed, TaskCheck(folder));

        Assert.NotNull(expected);
        Assert.Equal(expected, model.ManyClassCalibrationCleanProbabilities);
        Assert.Equal(surveyed.Count(r => !r.Recipe.Backdoored) - 2, expected.Length); // the two collapsed MLPs get no p
        Assert.Contains("calibrate --catalog many-class on " + ZooOptions.CommittedManyClassCache + "/survey/design.jsonl", model.ManyClassCalibrationMeasured, StringComparison.Ordinal);
        Assert.True(model.ConformalThreshold(model.DefaultTargetFalseFailRate, 43, out _) > model.ConformalThreshold(model.DefaultTargetFalseFailRate, 10, out _));
    }

    /// <summary>
    /// The unfamiliar-recipes rates every finding states are what the committed slice gives the embedded model
    /// (`remeasure --catalog unfamiliar`).
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsStatedUnfamiliarRecipeRates_AreWhatTheCommittedUnfamiliarSliceGivesIt()
    {
        if (!FashionMnistImages.Available())
        {
            return; // as above
        }

        (TrojanLikelihoodModel model, LikelihoodTestRates measured) = EmbeddedModelOnCommittedTestSplit(ZooOptions.CommittedUnfamiliarCache);

        Assert.Equal(88 + 34, measured.Clean + measured.Backdoored);
        Assert.Equal(measured, model.UnfamiliarTest);
        Assert.Contains("remeasure --catalog unfamiliar on " + ZooOptions.CommittedUnfamiliarCache + "/survey/test.jsonl", model.UnfamiliarTestMeasured, StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether the committed foreign audits recorded every feature <paramref name="model"/> reads: audits made under an
    /// earlier fit recorded that fit's features only.
    /// </summary>
    private static bool RecordedEveryFeature(TrojanLikelihoodModel model, IReadOnlyList<ForeignAudit> audits) =>
        audits.Where(a => a.Counted).All(a => model.Features.All(a.Features.ContainsKey));

    /// <summary>
    /// The rates every finding states on models trained outside the project are what the committed audits of the
    /// foreign zoo give the embedded model (`remeasure --foreign`), recomputed from each audit's recorded features.
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsStatedForeignRates_AreWhatTheCommittedForeignAuditsGiveIt()
    {
        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;

        IReadOnlyList<ForeignAudit> audits = ForeignZoo.Read(Path.Combine(RepositoryRoot.Folder, ForeignZoo.CommittedResults));
        if (!RecordedEveryFeature(model, audits))
        {
            // Not remeasured: the audits would have to be run again under this fit. Nothing is stated instead.
            Assert.Null(model.ForeignTest);
            Assert.Null(model.ForeignTestMeasured);
            Assert.Null(model.ForeignUnseenTest);
            return;
        }

        LikelihoodTestRates measured = ForeignZoo.Measure(model, audits);

        Assert.Equal(measured, model.ForeignTest);
        Assert.Contains("remeasure --foreign " + ForeignZoo.CommittedResults, model.ForeignTestMeasured, StringComparison.Ordinal);
    }

    /// <summary>
    /// The embedded fit was chosen after the first 72 foreign audits had been read (the 28 MobileNet-style ones came
    /// after it; docs/probes.md, "Models the project did not train"), and the rates every finding states on the others
    /// alone are what those audits give it.
    /// </summary>
    [Fact]
    public void TheEmbeddedModelsStatedUnseenForeignRates_AreWhatTheAuditsReadAfterItWasChosenGiveIt()
    {
        TrojanLikelihoodModel model = TrojanLikelihoodModel.Embedded()!;
        IReadOnlyList<ForeignAudit> audits = ForeignZoo.Read(Path.Combine(RepositoryRoot.Folder, ForeignZoo.CommittedResults));
        if (!RecordedEveryFeature(model, audits))
        {
            // A fit the foreign audits cannot be recomputed under states no foreign rates (see above).
            Assert.Null(model.ForeignUnseenTest);
            return;
        }

        Assert.Equal(72, model.ForeignSeenWhenChosen);
        Assert.Equal(ForeignZoo.Measure(model, [.. audits.Skip(72)]), model.ForeignUnseenTest);
        // The 28 read afterwards are the MobileNet-style architecture, which none of the first 72 is.
        Assert.All(audits.Skip(72), a => Assert.Equal("mobile", a.Architecture));
        Assert.DoesNotContain(audits.Take(72), a => a.Architecture == "mobile");
    }

    /// <summary>
    /// The foreign zoo's audits cover whole architectures: for every architecture read, every model of the manifest
    /// that counts (clean, or an implant that took) once, and nothing else, all succeeded (no model of an architecture
    /// was picked or dropped by its verdict); and each gets back, from its recorded (rounded) features under the fit it
    /// was audited with (the embedded one, or an earlier one kept in benchmarks/foreign-zoo/fits), the verdict and class
    /// the service gave it, so the recorded features are the audits' own and the stated rates, recomputed from them
    /// under today's fit, are what the service would give.
    /// </summary>
    [Fact]
    public void TheCommittedForeignAudits_AreWholeArchitecturesOfCountedModels_AndRecomputeToTheServicesVerdicts()
    {
        TrojanLikelihoodModel embedded = TrojanLikelihoodModel.Embedded()!;
        string folder = Path.GetDirectoryName(Path.Combine(RepositoryRoot.Folder, ForeignZoo.CommittedResults))!;
        IReadOnlyList<ForeignAudit> audits = ForeignZoo.Read(Path.Combine(RepositoryRoot.Folder, ForeignZoo.CommittedResults));
        HashSet<string> architecturesRead = [.. audits.Select(a => a.Architecture)];
        List<string> counted = [.. File.ReadLines(Path.Combine(folder, "manifest.jsonl"))
            .Select(line => System.Text.Json.JsonDocument.Parse(line).RootElement)
            .Where(r => architecturesRead.Contains(r.GetProperty("architecture").GetString()!))
            .Where(r => r.GetProperty("attack").ValueKind == System.Text.Json.JsonValueKind.Null || r.GetProperty("implanted").GetBoolean())
            .Select(r => r.GetProperty("name").GetString()!)];
        Dictionary<string, TrojanLikelihoodModel> fits = Directory.EnumerateFiles(Path.Combine(folder, "fits"), "*.json")
            .Select(ZooFit.Load).Append(embedded).ToDictionary(m => m.Generated, StringComparer.Ordinal);

        Assert.Equal(counted.Order(StringComparer.Ordinal), audits.Select(a => a.Name).Order(StringComparer.Ordinal));
        Assert.All(audits, a => Assert.True(a.Counted, a.Name));
        Assert.All(audits, a =>
        {
            Assert.True(a.FitGenerated is not null && fits.ContainsKey(a.FitGenerated), $"{a.Name}: its fit ({a.FitGenerated}) is neither embedded nor kept");
            (double _, bool flagged, int? suspected) = ForeignZoo.Score(fits[a.FitGenerated!], a);
            Assert.Equal(a.RecordedVerdict, flagged ? "fail" : "pass");
            Assert.Equal(a.RecordedSuspected, suspected);
        });
    }

    /// <summary>
    /// The rates the report quotes for each detector read alone (<see cref="DetectorHeldOutRates"/>) are what the
    /// committed calibration and test splits give at today's default thresholds, and for the supporting detectors also
    /// at the thresholds the committed design lines set for them (the 2.1.0 profiles'), and cover every detector the lines carry.
    /// </summary>
    [Fact]
    public void TheEmbeddedDetectorRates_AreWhatTheCommittedHeldOutSplitsGive()
    {
        if (!FashionMnistImages.Available())
        {
            return; // the task check reads the evidence's labels (scripts/test.sh installs the dataset)
        }

        DetectorHeldOutRates embedded = DetectorHeldOutRates.Embedded()!;
        List<SurveyRecord> heldOut = [.. HeldOutDetectorRates.HeldOutSplits.SelectMany(s => ZooSurvey.Read(Folder, s))];

        List<SupportingThreshold> supporting = SupportingThresholds.Compute(ZooSurvey.Read(Path.Combine(RepositoryRoot.Folder, ZooOptions.DesignUnderChosenKernelsCache), ZooSplits.Design));

        List<DetectorRates> measured = HeldOutDetectorRates.Measure(heldOut, TaskCheck(Folder), supporting);

        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(measured, TrojanLikelihoodModel.JsonOptions),
            System.Text.Json.JsonSerializer.Serialize(embedded.Detectors, TrojanLikelihoodModel.JsonOptions));
        Assert.Equal(heldOut.SelectMany(r => r.Probes.Keys).Distinct().Order(StringComparer.Ordinal), measured.Select(d => d.Probe).Distinct().Order(StringComparer.Ordinal));
        // Each supporting detector is counted at its design-split threshold too, where that differs from its default.
        Assert.All(supporting, s => Assert.NotNull(embedded.For(s.Probe, s.Threshold)));
        // Every usable line that carries a detector counts for it (a detector added by --add-probe may not cover them all yet).
        Assert.All(measured, d => Assert.Equal(heldOut.Count(r => (!r.Recipe.Backdoored || r.Implanted) && r.Probes.ContainsKey(d.Probe)), d.Clean + d.Backdoored + d.Inconclusive));
        Assert.Contains("detector-rates on " + ZooOptions.CommittedCache + "/survey/calibration.jsonl", embedded.Measured, StringComparison.Ordinal);
    }

    [Fact]
    public void TheCommittedDesignSplit_GivesEveryModelAFeatureRow_OrSaysWhichBaseDetectorWasInconclusive()
    {
        List<SurveyRecord> design = ZooSurvey.Read(Folder, ZooSplits.Design);

        Assert.All(design.Where(r => r.Features() is null), r =>
            Assert.Contains(TrojanLikelihoodFeatures.BaseDetectors, d => r.InconclusiveDetectors().Contains(d)));
        Assert.All(design.Select(r => r.Features()).OfType<IReadOnlyDictionary<string, double>>(), f =>
            Assert.All(TrojanLikelihoodFeatures.Names, n => Assert.True(double.IsFinite(f[n]), n)));
    }
}
