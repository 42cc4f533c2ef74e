using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Audit.Domain.Statistics;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// The statistics the trojan-likelihood meta-classifier may read, taken from the findings of the trojan detectors (all
/// computed on the one trigger scan of the audit, except detectors that do their own measurement). The same function
/// builds them when the model zoo fits the classifier and when an audit applies it, so fit and use cannot drift apart.
/// A fitted model names the features it uses (<see cref="TrojanLikelihoodModel.Features"/>); the fit chooses them.
/// </summary>
public static class TrojanLikelihoodFeatures
{
    /// <summary>The detectors whose statistics every fitted model may read; Neural Cleanse also names the suspected class.</summary>
    public static IReadOnlyList<string> BaseDetectors { get; } = ["neural-cleanse", "strip", "activation-clustering", "spectral-signatures"];

    /// <summary>Names of the base detectors' features, in the order of <see cref="From"/>'s result.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "calibratedAnomalyIndex",
        "uncalibratedAnomalyIndex",
        "logRatioGap",
        "logNormGap",
        "stripDetectionRate",
        "clusteringOverlap",
        "spectralOutlierShare",
    ];

    /// <summary>
    /// Every feature the findings give: the base detectors' (<see cref="Names"/>) when all four are present, and for
    /// any other detector its statistic as <c>&lt;probe id&gt;.statistic</c>, so a detector added later (one that does
    /// not rest on Neural Cleanse's candidate) can enter a refit without code here.
    /// </summary>
    public static IReadOnlyDictionary<string, double> All(IReadOnlyDictionary<string, JsonObject> findings)
    {
        ArgumentNullException.ThrowIfNull(findings);
        var features = new Dictionary<string, double>(StringComparer.Ordinal);
        if (BaseDetectors.All(findings.ContainsKey))
        {
            double[] values = From(findings["neural-cleanse"], findings["strip"], findings["activation-clustering"], findings["spectral-signatures"]);
            for (int i = 0; i < values.Length; i++)
            {
                features[Names[i]] = values[i];
            }
        }

        foreach ((string probe, JsonObject details) in findings)
        {
            if (!BaseDetectors.Contains(probe) && details["statistic"] is JsonValue value && value.TryGetValue(out double number) && double.IsFinite(number))
            {
                features[StatisticOf(probe)] = number;
            }
        }

        return features;
    }

    /// <summary>
    /// The values of <paramref name="names"/>, in order, as trojan-likelihood reads them: from <paramref name="available"/>,
    /// or, for a feature of an optional detector (not one of <see cref="BaseDetectors"/>) that is
    /// <paramref name="inconclusive"/>, the value <paramref name="imputedValue"/> gives for its index (the design split's
    /// mean). Null when a feature is missing for any other reason. The fit and the audit both read features through
    /// this, so they impute alike.
    /// </summary>
    public static double[]? Values(
        IReadOnlyList<string> names, IReadOnlyDictionary<string, double> available, IReadOnlySet<string> inconclusive, Func<int, double?> imputedValue)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(available);
        ArgumentNullException.ThrowIfNull(inconclusive);
        ArgumentNullException.ThrowIfNull(imputedValue);
        var values = new double[names.Count];
        for (int i = 0; i < values.Length; i++)
        {
            if (available.TryGetValue(names[i], out double value))
            {
                values[i] = value;
            }
            else if (TrojanLikelihoodModel.Imputable(names[i]) && inconclusive.Contains(TrojanLikelihoodModel.DetectorOf(names[i])) && imputedValue(i) is double mean)
            {
                values[i] = mean;
            }
            else
            {
                return null;
            }
        }

        return values;
    }

    /// <summary>The feature name of another detector's statistic.</summary>
    public static string StatisticOf(string probe) => probe + ".statistic";

    /// <summary>The detectors a feature list needs: the base four, and every detector named by a <c>.statistic</c> feature.</summary>
    public static IReadOnlyList<string> DetectorsFor(IEnumerable<string> featureNames) =>
        [.. BaseDetectors, .. featureNames.Where(n => n.EndsWith(".statistic", StringComparison.Ordinal)).Select(n => n[..^".statistic".Length]).Except(BaseDetectors).Distinct()];

    /// <summary>
    /// The base features from the four detectors' details: Neural Cleanse's reference-calibrated and raw anomaly
    /// indices, the suspected class's log norm ratio below the median ratio (how many times cheaper than typical
    /// relative to the reference), its raw mask norm below the median norm (log), and the ungated measurements of
    /// STRIP, activation clustering and spectral signatures on the smallest recovered trigger.
    /// </summary>
    public static double[] From(JsonObject neuralCleanse, JsonObject strip, JsonObject clustering, JsonObject spectral)
    {
        ArgumentNullException.ThrowIfNull(neuralCleanse);
        ArgumentNullException.ThrowIfNull(strip);
        ArgumentNullException.ThrowIfNull(clustering);
        ArgumentNullException.ThrowIfNull(spectral);
        double calibrated = Number(neuralCleanse, "anomalyIndex");
        double uncalibrated = Number(neuralCleanse, "uncalibratedAnomalyIndex");
        double[] ratios = Numbers(neuralCleanse, "logNormRatios");
        double ratioGap = ratios.Length == 0 ? 0 : Number(neuralCleanse, "medianLogNormRatio") - ratios.Min();
        double[] norms = Numbers(neuralCleanse, "maskNorms");
        double normGap = norms.Length == 0 ? 0 : Math.Log(Math.Max(Number(neuralCleanse, "medianNorm"), 1e-6) / Math.Max(norms.Min(), 1e-6));
        return
        [
            Math.Clamp(calibrated, -10, 20),
            Math.Clamp(uncalibrated, -10, 20),
            ratioGap,
            normGap,
            Number(strip, "detectionRate"),
            Number(clustering, "stampedOverlap"),
            Number(spectral, "stampedShareAmongOutliers"),
        ];
    }

    private static double Number(JsonObject details, string name) =>
        details[name] is JsonValue value && value.TryGetValue(out double number) && double.IsFinite(number)
            ? number
            : throw new InvalidOperationException($"The detector's finding lacks '{name}'.");

    private static double[] Numbers(JsonObject details, string name) =>
        details[name] is JsonArray array ? array.Select(n => n!.GetValue<double>()).ToArray() : [];
}

/// <summary>One bin of the calibration split: models whose calibrated probability fell in [Lower, Upper).</summary>
public sealed record LikelihoodBin(double Lower, double Upper, int Backdoored, int Total);

/// <summary>
/// Error rates measured on the zoo's test split at the default target (never used to fit anything), overall and by
/// attack family and architecture: a pass is worth only as much as the rate at which the attack a reader fears was
/// caught, and the overall miss rate hides that (source-specific backdoors, for one, may all have passed).
/// <see cref="ByPlacement"/>: all-to-one patch triggers (plain and low-rate) by where they sit, the border of the image
/// or its centre (over the object); null where the held-out models do not say (the foreign zoo's audits).
/// <see cref="InconclusiveClean"/> and <see cref="InconclusiveBackdoored"/>: models the probe answers inconclusive
/// because they are not shown to do their task on the evidence: above chance and right on more than half of it
/// (<c>taskCheck</c>; the half since 2026-12-07). They stay in <see cref="Clean"/> and
/// <see cref="Backdoored"/>; an inconclusive clean model is no false fail, an inconclusive backdoored one counts as
/// missed (no verdict caught it), and <see cref="Auroc"/> is read over the models that got a probability.
/// </summary>
public sealed record LikelihoodTestRates(
    int Clean,
    int Backdoored,
    int FalseFails,
    int Misses,
    double FalseFailRate,
    double MissRate,
    double Auroc,
    int Detected,
    int RightTarget,
    IReadOnlyList<LikelihoodAttackRates>? ByAttack = null,
    IReadOnlyList<LikelihoodArchitectureRates>? ByArchitecture = null,
    IReadOnlyList<LikelihoodAttackRates>? ByPlacement = null,
    int InconclusiveClean = 0,
    int InconclusiveBackdoored = 0)
{
    /// <summary>Value equality, the breakdowns compared element by element (a record compares lists by reference).</summary>
    public bool Equals(LikelihoodTestRates? other) =>
        other is not null
        && (Clean, Backdoored, FalseFails, Misses, FalseFailRate, MissRate, Auroc, Detected, RightTarget, InconclusiveClean, InconclusiveBackdoored)
            == (other.Clean, other.Backdoored, other.FalseFails, other.Misses, other.FalseFailRate, other.MissRate, other.Auroc, other.Detected, other.RightTarget, other.InconclusiveClean, other.InconclusiveBackdoored)
        && SameRows(ByAttack, other.ByAttack)
        && SameRows(ByArchitecture, other.ByArchitecture)
        && SameRows(ByPlacement, other.ByPlacement);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Clean, Backdoored, FalseFails, Misses, Auroc, Detected, RightTarget);

    /// <summary>
    /// "" when every model got a verdict; else one sentence on the models the probe was inconclusive on, as findings and
    /// reports state it after their false-fail and miss counts (those counts include them: no fail, and missed).
    /// </summary>
    public static string InconclusiveClause(int clean, int backdoored) =>
        clean + backdoored == 0
            ? ""
            : string.Create(CultureInfo.InvariantCulture,
                $" {clean} clean and {backdoored} backdoored of them were not shown to do their task on their evidence (above chance and right on more than half of it), so the probe was inconclusive on them: none of those failed, and the backdoored ones count as missed.");

    private static bool SameRows<T>(IReadOnlyList<T>? a, IReadOnlyList<T>? b) =>
        a is null ? b is null : b is not null && a.SequenceEqual(b);
}

/// <summary>One attack family on the test split: how many of its backdoored models were flagged, and with the right target.</summary>
public sealed record LikelihoodAttackRates(string Attack, int Backdoored, int Detected, int RightTarget)
{
    /// <summary>"blend 9 of 9, low-rate 4 of 9, …": the backdoored models flagged per family, as findings and reports state them.</summary>
    public static string CaughtList(IEnumerable<LikelihoodAttackRates> attacks) =>
        string.Join(", ", attacks.Select(a => string.Create(CultureInfo.InvariantCulture, $"{a.Attack} {a.Detected} of {a.Backdoored}")));

    /// <summary>The families flagged less than half the time: a pass is weak evidence against them.</summary>
    public static IReadOnlyList<string> WeaklyCaught(IEnumerable<LikelihoodAttackRates> attacks) =>
        [.. attacks.Where(a => a.Backdoored > 0 && a.Detected * 2 < a.Backdoored).Select(a => a.Attack)];
}

/// <summary>One architecture on the test split: clean models failed, backdoored models flagged.</summary>
public sealed record LikelihoodArchitectureRates(string Architecture, int Clean, int FalseFails, int Backdoored, int Detected);

/// <summary>
/// The fitted trojan-likelihood meta-classifier: logistic regression over standardised detector statistics (fitted on
/// the zoo's design split), Platt scaling of its logit (fitted on the calibration split), the calibration split's
/// clean-model probabilities for split-conformal thresholds (floored at <see cref="MinimumThreshold"/>), and the
/// rates measured on the test split (<see cref="TestMeasured"/> says when and by which command: <c>fit</c> measures
/// them, <c>remeasure</c> reads them again from a re-surveyed test split without refitting). Written by
/// <c>tools/Audit.ModelZoo</c> and embedded as a resource; never edited by hand.
/// <see cref="ManyClassTest"/>: the same threshold's rates on the zoo's 43-class slice (3×32×32 colour images), a
/// population unlike the ten-class models it was fitted and calibrated on, so a reader sees how the rates carry over
/// (<c>remeasure --catalog many-class</c> writes them; <see cref="ManyClassTestMeasured"/> says when and from which file).
/// <see cref="ForeignTest"/>: the same threshold's rates on models trained outside the project (the foreign zoo:
/// PyTorch, other architectures, optimisers and trigger placements, audited through the service), the nearest the
/// project comes to "models it never saw" (<c>remeasure --foreign</c> writes them from the audits' recorded features).
/// <see cref="ForeignSeenWhenChosen"/>: how many of those audits (the first ones of the file) had been read when this
/// fit was chosen, so they may have shaped it; <see cref="ForeignUnseenTest"/>: the rates on the others, read only after
/// it was chosen, the one reading of models it never saw that nothing about the fit was chosen on.
/// <see cref="UnfamiliarTest"/>: the same threshold's rates on the zoo's unfamiliar-recipes slice (training recipes no
/// fit has seen, half of the models on architectures it has not seen either, patches anywhere; <c>remeasure --catalog unfamiliar</c> writes them, and
/// <see cref="UnfamiliarTestMeasured"/> says when and from which file): models the project trained, but not the way
/// any fitted or calibrating model was trained.
/// <see cref="ManyClassCalibrationCleanProbabilities"/>: the clean-model probabilities of the zoo's 43-class design and
/// calibration splits (models the task check lets through), on which the conformal threshold of a model with more than
/// <see cref="FittedClasses"/> classes is set (<c>calibrate --catalog many-class</c> writes them; <see cref="ManyClassCalibrationMeasured"/>
/// says when and from which files): four of the five statistics are the most extreme class's distance from the median
/// class, which chance alone widens as classes are added, so clean many-class models are not exchangeable with the
/// ten-class calibration models and the ten-class threshold's guarantee does not hold for them.
/// </summary>
public sealed record TrojanLikelihoodModel(
    string Generated,
    IReadOnlyList<string> Features,
    IReadOnlyList<double> Means,
    IReadOnlyList<double> Scales,
    IReadOnlyList<double> Coefficients,
    double Intercept,
    double PlattSlope,
    double PlattIntercept,
    IReadOnlyList<double> CalibrationCleanProbabilities,
    IReadOnlyList<LikelihoodBin> CalibrationBins,
    int DesignClean,
    int DesignBackdoored,
    int CalibrationBackdoored,
    double DefaultTargetFalseFailRate,
    LikelihoodTestRates? Test,
    double MinimumThreshold = 0,
    string? TestMeasured = null,
    LikelihoodTestRates? ManyClassTest = null,
    string? ManyClassTestMeasured = null,
    LikelihoodTestRates? ForeignTest = null,
    string? ForeignTestMeasured = null,
    int? ForeignSeenWhenChosen = null,
    LikelihoodTestRates? ForeignUnseenTest = null,
    LikelihoodTestRates? UnfamiliarTest = null,
    string? UnfamiliarTestMeasured = null,
    IReadOnlyList<double>? ManyClassCalibrationCleanProbabilities = null,
    string? ManyClassCalibrationMeasured = null)
{
    /// <summary>The class count of every model the fit was fitted and (by default) calibrated on.</summary>
    public const int FittedClasses = 10;

    /// <summary>
    /// The clean-model probabilities a model of <paramref name="classes"/> classes is thresholded against: the 43-class
    /// calibration models' for more than <see cref="FittedClasses"/> classes when recorded, else the ten-class
    /// calibration split's. Between 11 and 42 classes the 43-class set errs towards fewer false fails (chance spreads
    /// 43 classes further than fewer); above 43 it may err the other way, and the finding says the class count differs.
    /// </summary>
    public IReadOnlyList<double> CalibrationCleanProbabilitiesFor(int classes) =>
        CalibratedOnManyClasses(classes) ? ManyClassCalibrationCleanProbabilities! : CalibrationCleanProbabilities;

    /// <summary>Whether a model of <paramref name="classes"/> classes is thresholded on the 43-class calibration models.</summary>
    public bool CalibratedOnManyClasses(int classes) => classes > FittedClasses && ManyClassCalibrationCleanProbabilities is { Count: > 0 };

    private const string ResourceName = "Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.json";

    /// <summary>
    /// The finding's sentence on the foreign models read only after this fit was chosen (empty when not recorded): the
    /// foreign rates above include models that shaped the choice, and a reader must be able to tell.
    /// </summary>
    public static string UnseenForeignSentence(TrojanLikelihoodModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.ForeignSeenWhenChosen is { } seen && model.ForeignUnseenTest is { } u && model.ForeignTest is { } all
            ? string.Create(CultureInfo.InvariantCulture,
                $" {seen} of those {all.Clean + all.Backdoored} had been read when this fit was chosen; on the other {u.Clean + u.Backdoored}, read only afterwards, it failed {u.FalseFails} of {u.Clean} clean and missed {u.Misses} of {u.Backdoored} backdoored ones (AUROC {u.Auroc:0.00}).")
            : "";
    }

    /// <summary>JSON settings of the model file.</summary>
    public static JsonSerializerOptions JsonOptions { get; } = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>
    /// SHA-256 (lower-case hex) of the model file as <c>fit</c> writes it (its JSON and a newline). A refit changes p for
    /// the same model and evidence, so the finding names the fit that gave it; for the embedded model this is the hash of
    /// <c>TrojanLikelihoodModel.json</c> in the repository (<c>sha256sum</c> checks it).
    /// </summary>
    public string Fingerprint() =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(FileText())));

    /// <summary>The model file's text, exactly as <c>fit</c> writes it.</summary>
    public string FileText() => JsonSerializer.Serialize(this, JsonOptions) + "\n";

    /// <summary>The model embedded in this assembly, or null when none has been fitted.</summary>
    public static TrojanLikelihoodModel? Embedded()
    {
        using Stream? stream = typeof(TrojanLikelihoodModel).Assembly.GetManifestResourceStream(ResourceName);
        return stream is null ? null : JsonSerializer.Deserialize<TrojanLikelihoodModel>(stream, JsonOptions);
    }

    /// <summary>The model's features, in its order, picked by name from <see cref="TrojanLikelihoodFeatures.All"/>'s result.</summary>
    /// <exception cref="InvalidOperationException">A feature the model needs is missing.</exception>
    public double[] Select(IReadOnlyDictionary<string, double> available)
    {
        ArgumentNullException.ThrowIfNull(available);
        return Features.Select(name => available.TryGetValue(name, out double value)
            ? value
            : throw new InvalidOperationException($"trojan-likelihood needs the feature '{name}', which the detectors' findings do not give.")).ToArray();
    }

    /// <summary>
    /// As <see cref="Select(IReadOnlyDictionary{string, double})"/>, except that a feature of a detector beyond the base
    /// four (a <c>.statistic</c> feature) whose detector was <paramref name="inconclusive"/> takes the design split's
    /// mean: standardised, 0, so it moves the logit neither way and the other detectors decide. The fit imputes the
    /// same way (tools/Audit.ModelZoo), so a model scored here is scored as the fit scored its like. The base
    /// detectors' features are never imputed: without Neural Cleanse there is no suspected class.
    /// </summary>
    /// <exception cref="InvalidOperationException">A feature the model needs is missing and cannot be imputed.</exception>
    public double[] Select(IReadOnlyDictionary<string, double> available, IReadOnlySet<string> inconclusive, out IReadOnlyList<string> imputed)
    {
        ArgumentNullException.ThrowIfNull(available);
        double[] values = TrojanLikelihoodFeatures.Values(Features, available, inconclusive, i => Means[i])
            ?? throw new InvalidOperationException($"trojan-likelihood needs the features '{string.Join("', '", Features.Where(n => !available.ContainsKey(n)))}', which the detectors' findings do not give and which cannot all be imputed.");
        imputed = [.. Features.Where(n => !available.ContainsKey(n))];
        return values;
    }

    /// <summary>Whether a feature may take the design mean when its detector is inconclusive: only the optional detectors'.</summary>
    public static bool Imputable(string feature)
    {
        ArgumentNullException.ThrowIfNull(feature);
        return !TrojanLikelihoodFeatures.BaseDetectors.Contains(DetectorOf(feature));
    }

    /// <summary>The logistic regression's logit for raw (unstandardised) features.</summary>
    public double Logit(IReadOnlyList<double> features)
    {
        if (features.Count != Coefficients.Count)
        {
            throw new ArgumentException($"Expected {Coefficients.Count} features, got {features.Count}.", nameof(features));
        }

        double z = Intercept;
        for (int i = 0; i < features.Count; i++)
        {
            z += Coefficients[i] * (features[i] - Means[i]) / Scales[i];
        }

        return z;
    }

    /// <summary>
    /// The detector behind the feature that raises the logit most (coefficient × standardised value): the verdict rests
    /// on it most, so the class it suspects is the one the finding names. Neural Cleanse's scan statistics and the
    /// trigger tests on its candidate are Neural Cleanse's; <c>&lt;probe&gt;.statistic</c> is that probe's.
    /// </summary>
    public string LeadingDetector(IReadOnlyList<double> features)
    {
        ArgumentNullException.ThrowIfNull(features);
        int leading = 0;
        for (int i = 1; i < features.Count; i++)
        {
            if (Contribution(features, i) > Contribution(features, leading))
            {
                leading = i;
            }
        }

        return DetectorOf(Features[leading]);
    }

    /// <summary>
    /// The class the finding names, and the detector that named it: the <see cref="LeadingDetector"/>'s suspected class,
    /// or Neural Cleanse's when the leading detector names none (<paramref name="classOf"/> gives a detector's suspected
    /// class, null or negative for none). The probe and the zoo's measurement of right targets both call this.
    /// </summary>
    public (int? Class, string From) SuspectedClass(IReadOnlyList<double> features, Func<string, int?> classOf)
    {
        ArgumentNullException.ThrowIfNull(classOf);
        string leading = LeadingDetector(features);
        return classOf(leading) is int named && named >= 0 ? (named, leading) : (classOf("neural-cleanse"), "neural-cleanse");
    }

    /// <summary>The detector whose finding gives a feature.</summary>
    public static string DetectorOf(string feature)
    {
        ArgumentNullException.ThrowIfNull(feature);
        const string Suffix = ".statistic";
        return feature.EndsWith(Suffix, StringComparison.Ordinal) ? feature[..^Suffix.Length] : "neural-cleanse";
    }

    private double Contribution(IReadOnlyList<double> features, int i) => Coefficients[i] * (features[i] - Means[i]) / Scales[i];

    /// <summary>The calibrated probability that the model is backdoored: Platt's sigmoid of the logit.</summary>
    public double Probability(IReadOnlyList<double> features) => Sigmoid(PlattSlope * Logit(features) + PlattIntercept);

    /// <summary>
    /// Split-conformal threshold for a target false-fail rate α: with n calibration clean probabilities, the
    /// ⌈(n + 1)(1 − α)⌉-th smallest. A clean model exchangeable with them exceeds it with probability ≤ α. When
    /// n is too small for α (the rank exceeds n) the largest is used and <paramref name="guaranteedRate"/> is
    /// 1 / (n + 1), the best bound n models give. Never below <see cref="MinimumThreshold"/>: a model the calibrated
    /// map calls more likely clean than backdoored is not failed because a few calibration clean models scored lower
    /// still (a higher threshold keeps the guarantee).
    /// </summary>
    public double ConformalThreshold(double alpha, out double guaranteedRate) =>
        Math.Max(ConformalQuantile(CalibrationCleanProbabilities, alpha, out guaranteedRate), MinimumThreshold);

    /// <summary>
    /// <see cref="ConformalThreshold(double, out double)"/> for a model of <paramref name="classes"/> classes, over
    /// <see cref="CalibrationCleanProbabilitiesFor"/> (0 classes, unknown: the ten-class calibration).
    /// </summary>
    public double ConformalThreshold(double alpha, int classes, out double guaranteedRate) =>
        Math.Max(ConformalQuantile(CalibrationCleanProbabilitiesFor(classes), alpha, out guaranteedRate), MinimumThreshold);

    /// <inheritdoc cref="ConformalThreshold(double, out double)"/>
    public static double ConformalQuantile(IReadOnlyList<double> cleanScores, double alpha, out double guaranteedRate)
    {
        int n = cleanScores.Count;
        if (n == 0)
        {
            guaranteedRate = 1;
            return 1;
        }

        double[] sorted = cleanScores.Order().ToArray();
        int rank = (int)Math.Ceiling((n + 1) * (1 - alpha) - 1e-9);
        if (rank > n)
        {
            guaranteedRate = 1.0 / (n + 1);
            return sorted[^1];
        }

        guaranteedRate = alpha;
        return sorted[Math.Max(rank, 1) - 1];
    }

    /// <summary>The calibration bin a probability falls in (the last bin includes 1).</summary>
    public LikelihoodBin? BinOf(double probability) =>
        CalibrationBins.FirstOrDefault(b => probability >= b.Lower && (probability < b.Upper || (b.Upper >= 1 && probability <= 1)));

    public static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));

    /// <summary>Wilson score interval for k successes in n trials at 95 % (the shared statistics helper).</summary>
    public static (double Lower, double Upper) Wilson(int k, int n) => n == 0 ? (0, 1) : SampleStatistics.WilsonInterval(k, n);

    /// <summary>A short invariant-culture rendering for summaries.</summary>
    internal static string Percent(double value) => value.ToString("P1", CultureInfo.InvariantCulture);
}
