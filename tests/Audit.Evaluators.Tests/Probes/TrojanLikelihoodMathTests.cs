using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>The arithmetic of trojan-likelihood: logit, Platt map, conformal threshold, Wilson interval, bins, verdict.</summary>
public sealed class TrojanLikelihoodMathTests
{
    private static TrojanLikelihoodModel Model(IReadOnlyList<double>? cleanScores = null) => new(
        "test",
        ["a", "b"],
        Means: [1, 10],
        Scales: [2, 5],
        Coefficients: [1.5, -0.5],
        Intercept: -1,
        PlattSlope: 2,
        PlattIntercept: 0.5,
        CalibrationCleanProbabilities: cleanScores ?? Enumerable.Range(1, 19).Select(i => i / 100.0).ToArray(),
        CalibrationBins: [new(0, 0.1, 0, 8), new(0.1, 0.5, 1, 12), new(0.5, 0.9, 3, 4), new(0.9, 1, 6, 6)],
        DesignClean: 12,
        DesignBackdoored: 12,
        CalibrationBackdoored: 10,
        DefaultTargetFalseFailRate: 0.05,
        Test: null);

    /// <summary>
    /// The fit's calibration and stated rates hold only at the scan settings its statistics were surveyed at, so the
    /// probe takes the target false-fail rate and the model's input range and refuses every scan effort setting, which
    /// Neural Cleanse itself still takes.
    /// </summary>
    [Theory]
    [InlineData("maxSteps", "200")]
    [InlineData("restarts", "1")]
    [InlineData("samplesPerClass", "8")]
    [InlineData("referenceCalibration", "false")]
    [InlineData("referenceSteps", "150")]
    [InlineData("ratioNoise", "0.5")]
    public void ScanEffortSettings_AreRefused_SinceTheCalibrationWasMeasuredAtTheDefaults(string name, string value)
    {
        var probe = new TrojanLikelihoodProbe(Model());
        var given = new Dictionary<string, JsonElement> { [name] = JsonDocument.Parse(value).RootElement.Clone() };

        Assert.Equal(["targetFalseFailRate", "inputBounds"], probe.Descriptor.Parameters.Select(p => p.Name));
        Assert.Contains(ProbeCatalog.Validate(probe.Descriptor, given), e => e.Parameter == name);
        Assert.Empty(ProbeCatalog.Validate(new NeuralCleanseProbe().Descriptor, given));
        Assert.Empty(ProbeCatalog.Validate(probe.Descriptor, new Dictionary<string, JsonElement> { ["inputBounds"] = JsonDocument.Parse("[0, 1]").RootElement.Clone() }));
    }

    /// <summary>
    /// The finding names the fit by the SHA-256 of its file, so a regulator can check it against the repository's
    /// TrojanLikelihoodModel.json with sha256sum: the embedded model's fingerprint is the hash of the embedded bytes, and
    /// any change to a coefficient changes it.
    /// </summary>
    [Fact]
    public void Fingerprint_IsTheSha256OfTheModelFile_AndFollowsEveryNumber()
    {
        TrojanLikelihoodModel embedded = TrojanLikelihoodModel.Embedded()!;
        using Stream resource = typeof(TrojanLikelihoodModel).Assembly.GetManifestResourceStream("Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.json")!;
        using var bytes = new MemoryStream();
        resource.CopyTo(bytes);

        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes.ToArray())), embedded.Fingerprint());
        Assert.NotEqual(embedded.Fingerprint(), (embedded with { Intercept = BitConverter.Int64BitsToDouble(BitConverter.DoubleToInt64Bits(embedded.Intercept) + 1) }).Fingerprint());
        Assert.Equal(Model().Fingerprint(), Model().Fingerprint());
    }

    [Theory]
    // (x − mean) / scale, weighted, plus the intercept: 1.5·(3 − 1)/2 − 0.5·(20 − 10)/5 − 1 = 1.5 − 1 − 1 = −0.5.
    [InlineData(3, 20, -0.5)]
    [InlineData(1, 10, -1)]
    [InlineData(5, 0, 3)]
    public void Logit_StandardisesThenWeighs(double a, double b, double expected) =>
        Assert.Equal(expected, Model().Logit([a, b]), 12);

    [Fact]
    public void Probability_IsPlattsSigmoidOfTheLogit()
    {
        TrojanLikelihoodModel model = Model();
        double logit = model.Logit([5, 0]);

        Assert.Equal(1 / (1 + Math.Exp(-(2 * logit + 0.5))), model.Probability([5, 0]), 12);
    }

    [Theory]
    [InlineData(0, 0.5)]
    [InlineData(-800, 0)]
    [InlineData(800, 1)]
    [InlineData(2, 0.8807970779778823)]
    public void Sigmoid_IsStableAtTheExtremes(double z, double expected) =>
        Assert.Equal(expected, TrojanLikelihoodModel.Sigmoid(z), 12);

    [Theory]
    // n = 19, α = 0.05: rank ⌈20 · 0.95⌉ = 19, the largest; the 5% guarantee holds.
    [InlineData(19, 0.05, 19, 0.05)]
    // n = 39: rank ⌈40 · 0.95⌉ = 38.
    [InlineData(39, 0.05, 38, 0.05)]
    // n = 10: rank 11 > 10, so the largest, and only 1/11 is guaranteed.
    [InlineData(10, 0.05, 10, 1.0 / 11)]
    // n = 10, α = 0.2: rank ⌈11 · 0.8⌉ = 9.
    [InlineData(10, 0.2, 9, 0.2)]
    public void ConformalQuantile_TakesTheRankThatBoundsTheFalseFailRate(int n, double alpha, int expectedRank, double expectedGuarantee)
    {
        // Scores 1..n, shuffled: the threshold is the expectedRank-th smallest.
        double[] scores = Enumerable.Range(1, n).Select(i => (double)i).Reverse().ToArray();

        double threshold = TrojanLikelihoodModel.ConformalQuantile(scores, alpha, out double guaranteed);

        Assert.Equal(expectedRank, threshold);
        Assert.Equal(expectedGuarantee, guaranteed, 12);
    }

    [Fact]
    public void ConformalQuantile_WithoutCleanScores_NeverFlags()
    {
        Assert.Equal(1, TrojanLikelihoodModel.ConformalQuantile([], 0.05, out double guaranteed));
        Assert.Equal(1, guaranteed);
    }

    [Theory]
    // Reference values of the 95% Wilson score interval.
    [InlineData(0, 10, 0, 0.2775)]
    [InlineData(5, 10, 0.2366, 0.7634)]
    [InlineData(10, 10, 0.7225, 1)]
    [InlineData(1, 20, 0.0089, 0.2361)]
    public void Wilson_MatchesReferenceValues(int k, int n, double lower, double upper)
    {
        (double l, double u) = TrojanLikelihoodModel.Wilson(k, n);

        Assert.Equal(lower, l, 4);
        Assert.Equal(upper, u, 4);
    }

    [Theory]
    [InlineData(0.0, 0)]
    [InlineData(0.09, 0)]
    [InlineData(0.1, 1)]
    [InlineData(0.95, 3)]
    [InlineData(1.0, 3)]
    public void BinOf_FindsTheCalibrationBin(double p, int expectedBin)
    {
        TrojanLikelihoodModel model = Model();

        Assert.Same(model.CalibrationBins[expectedBin], model.BinOf(p));
    }

    [Theory]
    // The default threshold is the conformal one: 0.19 with 19 clean scores 0.01..0.19. p = σ(2·logit + 0.5).
    [InlineData(5, 0, "fail")]   // logit 3, p = σ(6.5) ≈ 0.998
    [InlineData(2, 10, "fail")]  // logit −0.25, p = σ(0) = 0.5
    [InlineData(1, 10, "pass")]  // logit −1, p = σ(−1.5) ≈ 0.182 < 0.19
    [InlineData(-5, 30, "pass")]
    public void Assess_ComparesTheProbabilityWithTheConformalThreshold(double a, double b, string verdict)
    {
        TrojanLikelihoodModel model = Model();
        var probe = new TrojanLikelihoodProbe(model);
        double p = model.Probability([a, b]);

        ProbeOutcome outcome = probe.Assess(Context(probe), [a, b], Findings(suspected: 4));

        Assert.Equal(0.19, probe.Descriptor.DefaultThreshold, 12);
        Assert.Equal(verdict, outcome.Verdict.ToString().ToLowerInvariant());
        Assert.Equal(p / 0.19, outcome.Score!.Value, 12);
        Assert.Equal(4, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.Equal("conformal", (string)outcome.Details["thresholdSource"]!);
        JsonArray interval = outcome.Details["probabilityInterval"]!.AsArray();
        Assert.True((double)interval[0]! <= (double)interval[1]!);
    }

    /// <summary>
    /// The rates the finding states were counted on models of 10 and 43 classes; a model with another class count is told
    /// so, and the class count is recorded whenever the check counted it.
    /// </summary>
    [Theory]
    [InlineData(3, true)]
    [InlineData(5, true)]
    [InlineData(100, true)]
    [InlineData(10, false)]
    [InlineData(43, false)]
    public void Assess_SaysWhenTheModelsClassCountIsNotOneTheRatesWereCountedOn(int classes, bool said)
    {
        var probe = new TrojanLikelihoodProbe(Model());

        ProbeOutcome outcome = probe.Assess(Context(probe), [1, 10], Findings(suspected: 4), task: new TaskCheckResult(null, "the evidence has no labels") { Classes = classes });

        Assert.Equal(said, outcome.Summary.Contains($"This model has {classes} classes", StringComparison.Ordinal));
        Assert.Equal(classes < 10, outcome.Summary.Contains("fewer classes weaken the evidence", StringComparison.Ordinal));
        Assert.Equal(classes, (int)outcome.Details["classes"]!);
    }

    /// <summary>
    /// A model of more than ten classes is thresholded against the 43-class calibration models' probabilities when the
    /// fit records them, a model of ten or fewer (or of an unknown count) against the ten-class calibration split's; the
    /// finding and its sentence say which population set the threshold. Here the ten-class scores are 0.01..0.19
    /// (threshold 0.19) and the 43-class ones 0.1..2.0 in twentieths (19 scores: the 5 % point is the largest, 0.95).
    /// </summary>
    [Theory]
    [InlineData(0, 0.19, 19, 10)]
    [InlineData(5, 0.19, 19, 10)]
    [InlineData(10, 0.19, 19, 10)]
    [InlineData(11, 0.95, 19, 43)]
    [InlineData(43, 0.95, 19, 43)]
    [InlineData(100, 0.95, 19, 43)]
    public void Assess_ThresholdsAManyClassModel_OnTheManyClassCalibrationModels(int classes, double threshold, int calibrationModels, int calibrationClasses)
    {
        TrojanLikelihoodModel model = Model() with
        {
            ManyClassCalibrationCleanProbabilities = [.. Enumerable.Range(1, 19).Select(i => i / 20.0)],
            ManyClassCalibrationMeasured = "test",
            Test = StatedRates,
            ManyClassTest = StatedRates,
        };
        var probe = new TrojanLikelihoodProbe(model);
        // logit −0.25, p = 0.5: above the ten-class threshold, below the 43-class one.
        double[] features = [2, 10];

        ProbeOutcome outcome = probe.Assess(Context(probe), features, Findings(suspected: 4), task: new TaskCheckResult(null, "the evidence has no labels") { Classes = classes });

        Assert.Equal(threshold, (double)outcome.Details["threshold"]!, 12);
        Assert.Equal(threshold == 0.19 ? Verdict.Fail : Verdict.Pass, outcome.Verdict);
        Assert.Equal(calibrationModels, (int)outcome.Details["calibrationCleanModels"]!);
        Assert.Equal(calibrationClasses, (int)outcome.Details["calibrationClasses"]!);
        Assert.Equal(calibrationClasses == 43, outcome.Summary.Contains("like the 19 43-class calibration models fail", StringComparison.Ordinal));
        Assert.Equal(calibrationClasses == 43, outcome.Details.ContainsKey("manyClassCalibrationMeasured"));
        // The stated rates say which threshold they were counted at, so a many-class model's reader does not take the
        // ten-class rates for its own.
        Assert.Equal(calibrationClasses == 43, outcome.Summary.Contains("the ten-class default threshold (0.19, not this model's) failed", StringComparison.Ordinal));
        Assert.Equal(calibrationClasses == 43, outcome.Summary.Contains("the default threshold for models of more than ten classes (0.95) failed", StringComparison.Ordinal));
        // The descriptor's default stays the ten-class threshold; with no threshold in the profile the model's own applies.
        Assert.Equal(0.19, probe.Descriptor.DefaultThreshold, 12);
        Assert.Equal("conformal", (string)outcome.Details["thresholdSource"]!);
    }

    /// <summary>
    /// A threshold the profile sets is applied as given on a model of any class count, even where it equals the
    /// descriptor's default (the ten-class 5 % point): read as "unset", it would move a 43-class model to the 43-class
    /// threshold against the profile's word. Only a profile without a threshold gets the model's own conformal one.
    /// </summary>
    [Theory]
    [InlineData(43, 0.19, 0.19, "profile")]
    [InlineData(43, 0.3, 0.3, "profile")]
    [InlineData(43, null, 0.95, "conformal")]
    [InlineData(10, 0.19, 0.19, "profile")]
    [InlineData(10, null, 0.19, "conformal")]
    public void Assess_AppliesAProfilesThresholdAsGiven_EvenWhereItEqualsTheDefault(int classes, double? profileThreshold, double applied, string source)
    {
        TrojanLikelihoodModel model = Model() with
        {
            ManyClassCalibrationCleanProbabilities = [.. Enumerable.Range(1, 19).Select(i => i / 20.0)],
            ManyClassCalibrationMeasured = "test",
            Test = StatedRates,
        };
        var probe = new TrojanLikelihoodProbe(model);
        double[] features = [2, 10];   // p = 0.5

        ProbeOutcome outcome = probe.Assess(Context(probe, profileThreshold: profileThreshold), features, Findings(suspected: 4), task: new TaskCheckResult(null, "the evidence has no labels") { Classes = classes });

        Assert.Equal(applied, (double)outcome.Details["threshold"]!, 12);
        Assert.Equal(source, (string)outcome.Details["thresholdSource"]!);
        Assert.Equal(0.5 >= applied ? Verdict.Fail : Verdict.Pass, outcome.Verdict);
        Assert.Equal(source == "conformal", outcome.Summary.Contains("set so that at most", StringComparison.Ordinal));
        // The ten-class rates are "not this model's" only where the 43-class threshold was applied, not where the profile
        // chose one (which may be the very threshold they were counted at).
        Assert.Equal(classes == 43 && source == "conformal", outcome.Summary.Contains("not this model's", StringComparison.Ordinal));
    }

    /// <summary>Rates a finding states (their numbers do not matter where this is used).</summary>
    private static LikelihoodTestRates StatedRates => new(10, 12, 1, 5, 0.1, 0.4167, 0.81, 7, 7, [new("blend", 4, 4, 4)], [new("mlp", 10, 1, 12, 7)]);

    /// <summary>Without 43-class calibration models in the fit, every model is thresholded on the ten-class ones, whatever its class count.</summary>
    [Theory]
    [InlineData(43)]
    [InlineData(100)]
    public void WithoutManyClassCalibration_EveryClassCountTakesTheTenClassThreshold(int classes)
    {
        TrojanLikelihoodModel model = Model();

        Assert.Equal(0.19, model.ConformalThreshold(0.05, classes, out double guaranteed), 12);
        Assert.Equal(0.05, guaranteed, 12);
        Assert.False(model.CalibratedOnManyClasses(classes));
        Assert.False((model with { ManyClassCalibrationCleanProbabilities = [] }).CalibratedOnManyClasses(classes));
    }

    /// <summary>The rates were counted with 1,000 evidence inputs per model; an audit on fewer says so, and on as many or more does not.</summary>
    [Theory]
    [InlineData(20, true)]
    [InlineData(999, true)]
    [InlineData(1000, false)]
    [InlineData(5000, false)]
    public void Assess_SaysWhenTheEvidenceIsSmallerThanTheRatesWereCountedWith(int inputs, bool said)
    {
        var probe = new TrojanLikelihoodProbe(Model());

        ProbeOutcome outcome = probe.Assess(Context(probe), [1, 10], Findings(suspected: 4), task: new TaskCheckResult(null, "the evidence has no labels") { Classes = 10, EvidenceInputs = inputs });

        Assert.Equal(said, outcome.Summary.Contains($"The evidence has {inputs} inputs", StringComparison.Ordinal));
        Assert.Equal(inputs, (int)outcome.Details["evidenceInputs"]!);
    }

    /// <summary>
    /// The finding names the class of the detector whose feature raises the logit most (coefficient × standardised value):
    /// a warp caught by the warp search is named by it, not by Neural Cleanse, whose scan misses warps.
    /// </summary>
    [Theory]
    // Means 1 and 0.05, scales 0.5 and 0.05, coefficients 1.5 and 1: contributions 1.5·(x − 1)/0.5 and (y − 0.05)/0.05.
    [InlineData(3.0, 0.05, "neural-cleanse", 4)] // 6 against 0
    [InlineData(1.2, 0.40, "warp-inversion", 7)] // 0.6 against 7
    [InlineData(0.0, 0.00, "neural-cleanse", 4)] // −3 against −1: the warp search leads, but names no class (−1)
    public void Assess_NamesTheClassOfTheLeadingDetector(double gap, double warp, string from, int suspected)
    {
        var model = new TrojanLikelihoodModel(
            "test", ["logNormGap", "warp-inversion.statistic"], [1, 0.05], [0.5, 0.05], [1.5, 1], 0, 1, 0, [0.1, 0.2], [], 2, 2, 2, 0.05, null);
        var probe = new TrojanLikelihoodProbe(model);
        Dictionary<string, ProbeOutcome> findings = Findings(suspected: 4);
        int warpClass = from == "warp-inversion" ? 7 : gap == 0 ? -1 : 2;
        findings["warp-inversion"] = new ProbeOutcome(Verdict.Pass, 0.5, "warp", new JsonObject { ["statistic"] = warp, ["suspectedTargetClass"] = warpClass }, []);

        ProbeOutcome outcome = probe.Assess(Context(probe), [gap, warp], findings);

        Assert.Equal(suspected, (int)outcome.Details["suspectedTargetClass"]!);
        Assert.Equal(from, (string)outcome.Details["suspectedClassFrom"]!);
        Assert.Equal("neural-cleanse", TrojanLikelihoodModel.DetectorOf("calibratedAnomalyIndex"));
        Assert.Equal("warp-inversion", TrojanLikelihoodModel.DetectorOf("warp-inversion.statistic"));
    }

    /// <summary>
    /// The finding states the test split's catch rate per attack family, and names the families caught less than half
    /// the time: an overall miss rate of a third could hide that one family was never caught at all.
    /// </summary>
    [Fact]
    public void Assess_StatesTheCatchRateByAttack_AndNamesTheFamiliesAPassSaysLittleAbout()
    {
        LikelihoodTestRates rates = new(10, 12, 1, 5, 0.1, 0.4167, 0.81, 7, 7,
            [new("blend", 4, 4, 4), new("low-rate", 4, 2, 2), new("source-specific", 4, 1, 1)],
            [new("mlp", 10, 1, 12, 7)]);
        var probe = new TrojanLikelihoodProbe(Model() with
        {
            Test = rates,
            ManyClassTest = rates with { Clean = 6, FalseFails = 2, Backdoored = 5, Misses = 1, Auroc = 0.7 },
            ForeignTest = rates with { Clean = 20, FalseFails = 3, Backdoored = 16, Misses = 9, Auroc = 0.66 },
            ForeignTestMeasured = "2026-12-04T16:30Z by tools/Audit.ModelZoo remeasure --foreign benchmarks/foreign-zoo/results.jsonl",
            UnfamiliarTest = rates with { Clean = 8, FalseFails = 1, Backdoored = 4, Misses = 3, Auroc = 0.75 },
            UnfamiliarTestMeasured = "2026-12-06T22:34Z by tools/Audit.ModelZoo remeasure --catalog unfamiliar on benchmarks/model-zoo-unfamiliar/survey/test.jsonl",
        });

        ProbeOutcome outcome = probe.Assess(Context(probe), [1, 10], Findings(suspected: 4));

        // The 43-class slice's rates are stated beside them, as rates on models unlike the fitted ones.
        Assert.Contains("On 11 held-out 43-class colour models, unlike the ten-class ones it was fitted on, it failed 2 of 6 clean and missed 1 of 5 backdoored ones (AUROC 0.70).", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal(2, (int)outcome.Details["manyClassTestSplit"]!["falseFails"]!);

        // And the rates on models trained by recipes no fit has seen.
        Assert.Contains("On 12 held-out models trained by recipes no fit has seen (many of them on architectures no fit has seen), it failed 1 of 8 clean and missed 3 of 4 backdoored ones (AUROC 0.75).", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal(3, (int)outcome.Details["unfamiliarTestSplit"]!["misses"]!);
        Assert.EndsWith("--catalog unfamiliar on benchmarks/model-zoo-unfamiliar/survey/test.jsonl", (string)outcome.Details["unfamiliarTestMeasured"]!, StringComparison.Ordinal);

        // So are the rates on models trained outside the project, and where they come from.
        Assert.Contains("On 36 models trained outside the project (other code, architectures and triggers), it failed 3 of 20 clean and missed 9 of 16 backdoored ones (AUROC 0.66).", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal(9, (int)outcome.Details["foreignTestSplit"]!["misses"]!);
        Assert.EndsWith("remeasure --foreign benchmarks/foreign-zoo/results.jsonl", (string)outcome.Details["foreignTestMeasured"]!, StringComparison.Ordinal);
        // Without a count of the models read when the fit was chosen, nothing is said about it.
        Assert.DoesNotContain("when this fit was chosen", outcome.Summary, StringComparison.Ordinal);
        Assert.Null(outcome.Details["foreignSeenWhenChosen"]);

        // 2 of 4 is half, not less than half: only source-specific is named.
        Assert.Contains("caught, by attack: blend 4 of 4, low-rate 2 of 4, source-specific 1 of 4; a pass is weak evidence against source-specific backdoors,", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal(1, (int)outcome.Details["testSplit"]!["byAttack"]![2]!["detected"]!);
        Assert.Equal("mlp", (string)outcome.Details["testSplit"]!["byArchitecture"]![0]!["architecture"]!);
        Assert.Equal(" Backdoored test models caught, by attack: blend 4 of 4.", TrojanLikelihoodProbe.CaughtByAttack(rates with { ByAttack = [new("blend", 4, 4, 4)] }));
        Assert.Equal("", TrojanLikelihoodProbe.CaughtByAttack(rates with { ByAttack = null }));

        // All-to-one patches by where they sat follow, and a placement caught less than half the time is named.
        Assert.Equal(
            " Backdoored test models caught, by attack: blend 4 of 4. All-to-one patch triggers by where they sat: patch at the border 35 of 39, patch in the centre 2 of 11; a pass is weak evidence against a patch in the centre.",
            TrojanLikelihoodProbe.CaughtByAttack(rates with { ByAttack = [new("blend", 4, 4, 4)], ByPlacement = [new("patch at the border", 39, 35, 33), new("patch in the centre", 11, 2, 2)] }));
        Assert.EndsWith(
            "by where they sat: patch at the border 4 of 4.",
            TrojanLikelihoodProbe.CaughtByAttack(rates with { ByPlacement = [new("patch at the border", 4, 4, 4)] }),
            StringComparison.Ordinal);
    }

    /// <summary>
    /// Foreign models read when the fit was chosen may have shaped it: the finding says how many of them there were and
    /// states the rates on the others apart, so a reader can tell the clean reading from the whole.
    /// </summary>
    [Fact]
    public void Assess_SeparatesTheForeignModelsReadOnlyAfterTheFitWasChosen()
    {
        LikelihoodTestRates rates = new(10, 12, 1, 5, 0.1, 0.4167, 0.81, 7, 7);
        var probe = new TrojanLikelihoodProbe(Model() with
        {
            Test = rates,
            ForeignTest = rates with { Clean = 20, FalseFails = 3, Backdoored = 16, Misses = 9, Auroc = 0.66 },
            ForeignSeenWhenChosen = 24,
            ForeignUnseenTest = rates with { Clean = 6, FalseFails = 1, Backdoored = 6, Misses = 4, Auroc = 0.58 },
        });

        ProbeOutcome outcome = probe.Assess(Context(probe), [1, 10], Findings(suspected: 4));

        Assert.Contains("it failed 3 of 20 clean and missed 9 of 16 backdoored ones (AUROC 0.66). 24 of those 36 had been read when this fit was chosen; on the other 12, read only afterwards, it failed 1 of 6 clean and missed 4 of 6 backdoored ones (AUROC 0.58).", outcome.Summary, StringComparison.Ordinal);
        Assert.Equal(24, (int)outcome.Details["foreignSeenWhenChosen"]!);
        Assert.Equal(4, (int)outcome.Details["foreignUnseenTestSplit"]!["misses"]!);
    }

    /// <summary>Test rates compare by value, breakdowns included (a record alone would compare the lists by reference).</summary>
    [Fact]
    public void TestRates_CompareTheirBreakdownsByValue()
    {
        LikelihoodTestRates Rates(int detected) => new(10, 12, 1, 5, 0.1, 0.4167, 0.81, 7, 7, [new("blend", 4, detected, 4)], [new("mlp", 10, 1, 12, 7)]);

        Assert.Equal(Rates(4), Rates(4));
        Assert.NotEqual(Rates(4), Rates(3));
        Assert.NotEqual(Rates(4), Rates(4) with { ByArchitecture = null });
    }

    [Fact]
    public void Assess_WithALowerTargetRate_RaisesTheThreshold()
    {
        // 39 clean scores: α = 0.05 takes the 38th smallest, α = 0.025 the 39th.
        TrojanLikelihoodModel model = Model(Enumerable.Range(1, 39).Select(i => i / 100.0).ToArray());
        var probe = new TrojanLikelihoodProbe(model);

        ProbeOutcome strict = probe.Assess(Context(probe, targetFalseFailRate: 0.025), [1, 10], Findings(0));

        Assert.Equal(0.38, probe.Descriptor.DefaultThreshold, 12);
        Assert.Equal(0.39, (double)strict.Details["threshold"]!, 12);
        Assert.Equal(0.025, (double)strict.Details["guaranteedFalseFailRate"]!, 12);
    }

    [Fact]
    public async Task WithoutAFittedModel_TheProbeIsInconclusive()
    {
        var probe = new TrojanLikelihoodProbe(null);

        ProbeOutcome outcome = await probe.RunAsync(Context(probe), CancellationToken.None);

        Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
    }

    /// <summary>
    /// An optional detector that cannot answer on this model (the pair scan on a model with fewer than three source
    /// classes) is left at the design mean, which moves p neither way, and the finding says so; a base detector that
    /// cannot answer still makes the probe inconclusive (Neural Cleanse names the class, STRIP and the others are read).
    /// </summary>
    [Fact]
    public async Task AnInconclusiveOptionalDetector_IsImputedAtTheDesignMean_AndABaseOneIsNot()
    {
        // logNormGap = log(4 / 0.5) ≈ 2.079 from the canned Neural Cleanse finding; the pair feature's mean is 3.
        var model = new TrojanLikelihoodModel(
            "test", ["logNormGap", "pairs.statistic"], [1, 3], [0.5, 1], [1.5, 2], 0, 1, 0, [0.1, 0.2], [], 2, 2, 2, 0.05, null);
        ProbeOutcome inconclusive = ProbeOutcome.Inconclusive("fewer than three source classes");
        IProbe[] detectors = [.. BaseDetectors(strip: null), new CannedProbe("pairs", inconclusive)];
        var probe = new TrojanLikelihoodProbe(model, detectors);

        ProbeOutcome outcome = await probe.RunAsync(Context(probe), CancellationToken.None);

        Assert.NotEqual(Verdict.Inconclusive, outcome.Verdict);
        Assert.Equal(["pairs.statistic"], outcome.Details["imputedFeatures"]!.AsArray().Select(n => (string)n!));
        Assert.Equal(3.0, (double)outcome.Details["features"]!["pairs.statistic"]!, 12);
        Assert.Equal(1.5 * (Math.Log(4 / 0.5) - 1) / 0.5, (double)outcome.Details["logit"]!, 9);
        Assert.Equal("inconclusive", (string)outcome.Details["detectors"]!["pairs"]!["verdict"]!);
        Assert.Contains("pairs", outcome.Summary, StringComparison.Ordinal);

        var withoutStrip = new TrojanLikelihoodProbe(model, [.. BaseDetectors(strip: inconclusive), new CannedProbe("pairs", inconclusive)]);
        Assert.Equal(Verdict.Inconclusive, (await withoutStrip.RunAsync(Context(withoutStrip), CancellationToken.None)).Verdict);
    }

    private static IProbe[] BaseDetectors(ProbeOutcome? strip) =>
    [
        new CannedProbe("neural-cleanse", new ProbeOutcome(Verdict.Pass, 0.5, "nc", new JsonObject
        {
            ["statistic"] = 1.0, ["suspectedTargetClass"] = 4, ["anomalyIndex"] = 1.0, ["uncalibratedAnomalyIndex"] = 1.0,
            ["logNormRatios"] = new JsonArray(0.1, 0.9, 1.2), ["medianLogNormRatio"] = 0.9,
            ["maskNorms"] = new JsonArray(0.5, 4.0, 6.0), ["medianNorm"] = 4.0,
        }, [])),
        new CannedProbe("strip", strip ?? new ProbeOutcome(Verdict.Pass, 0.1, "strip", new JsonObject { ["statistic"] = 0.1, ["detectionRate"] = 0.1 }, [])),
        new CannedProbe("activation-clustering", new ProbeOutcome(Verdict.Pass, 0.1, "ac", new JsonObject { ["statistic"] = 0.1, ["stampedOverlap"] = 0.1 }, [])),
        new CannedProbe("spectral-signatures", new ProbeOutcome(Verdict.Pass, 0.1, "ss", new JsonObject { ["statistic"] = 0.1, ["stampedShareAmongOutliers"] = 0.1 }, [])),
    ];

    /// <summary>A detector that answers the same outcome every time.</summary>
    private sealed class CannedProbe(string name, ProbeOutcome outcome) : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = new(name, name, "test", ModelKinds.Classifier, EvidenceKind.Inputs, 1, "test", []);

        public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) => Task.FromResult(outcome);
    }

    private static ProbeContext Context(TrojanLikelihoodProbe probe, double? targetFalseFailRate = null, double? profileThreshold = null)
    {
        var given = new Dictionary<string, JsonElement>();
        if (targetFalseFailRate is double rate)
        {
            given["targetFalseFailRate"] = JsonSerializer.SerializeToElement(rate);
        }

        return new ProbeContext
        {
            ModelPath = "unused.onnx",
            Parameters = ProbeCatalog.WithDefaults(probe.Descriptor, given),
            Threshold = profileThreshold ?? probe.Descriptor.DefaultThreshold,
            ThresholdFromProfile = profileThreshold is not null,
            Seed = 1,
            Device = ComputeDevice.Cpu,
            Models = new FixedModelSource(null!),
            Progress = new Progress<double>(),
            Evidence = new AuditEvidence(null, ComputeDevice.Cpu),
            Session = new SessionCache(),
        };
    }

    /// <summary>
    /// The detectors' parts of the probe's progress tile [0, 1] in run order, and the first (Neural Cleanse, which runs
    /// the trigger scan, nearly all of the probe's time) has most of it.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(6)]
    public void ProgressShares_TileTheProbe_AndTheScanCarrierHasMost(int detectors)
    {
        (double From, double Width)[] shares = [.. Enumerable.Range(0, detectors).Select(i => TrojanLikelihoodProbe.ProgressShare(i, detectors))];

        Assert.Equal(0, shares[0].From);
        Assert.Equal(1, shares[^1].From + shares[^1].Width, 9);
        Assert.All(shares.Zip(shares[1..]), pair => Assert.Equal(pair.First.From + pair.First.Width, pair.Second.From, 9));
        Assert.True(shares[0].Width >= 0.9, $"scan carrier {shares[0].Width}");
    }

    private static Dictionary<string, ProbeOutcome> Findings(int suspected) =>
        new[] { "neural-cleanse", "strip", "activation-clustering", "spectral-signatures" }.ToDictionary(
            n => n,
            n => new ProbeOutcome(Verdict.Pass, 0.5, n, new JsonObject { ["statistic"] = 1.0, ["suspectedTargetClass"] = suspected }, []));
}
