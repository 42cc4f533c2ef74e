using System.Globalization;
using System.Text.Json;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>
/// Fits trojan-likelihood: logistic regression on the design split, Platt scaling and the conformal clean scores on
/// the calibration split, and the measured rates on the test split (read only to report). Writes the model JSON the
/// probe embeds.
/// </summary>
internal sealed class ZooFit(string cacheFolder, string? output)
{
    public const string DefaultOutput = "src/Audit.Evaluators/Probes/Trojans/TrojanLikelihoodModel.json";

    /// <summary>Ridge penalty on the standardised coefficients: the design split is small and often separable.</summary>
    public const double Ridge = 1.0;

    public static double[] Bins { get; } = [0, 0.1, 0.5, 0.9, 1];

    private ZooTaskCheck? _taskCheck;

    /// <summary>The probe's check that a model does its task, as the stated test rates count it.</summary>
    private ZooTaskCheck TaskCheck => _taskCheck ??= new ZooTaskCheck(new ZooTrainer(cacheFolder));

    /// <summary>
    /// The fitted model's threshold floor: none, so the split-conformal quantile alone sets the threshold. Until
    /// 2026-12-06 it was 0.5 ("more likely backdoored than not"), set when the calibration split held 20 clean models,
    /// too few for the 5 % rank, whose largest probability could be 10⁻⁵. With 151 the rank lies inside the sample (and
    /// <see cref="TrojanLikelihoodModel.ConformalQuantile"/> states the weaker guarantee whenever it does not). A floor on p ties the verdict to the calibration split's share of backdoored models,
    /// which Platt scaling calibrates p at and which is a choice of the catalog, not of the audited model; the conformal
    /// threshold does not depend on it (benchmarks/model-zoo-grown-calibration).
    /// </summary>
    public const double MinimumThreshold = 0;

    /// <summary>
    /// Design models of the smaller class (backdoored or clean) per chosen feature: the events-per-variable rule for
    /// logistic regression (Peduzzi et al., "A simulation study of the number of events per variable in logistic
    /// regression analysis", J. Clin. Epidemiol. 1996), below which coefficients are biased and their intervals wrong.
    /// The design split holds tens of models, and each feature is one more fitted weight.
    /// </summary>
    public const int EventsPerFeature = 10;

    /// <summary>
    /// The models of a fitting split the probe would give a p: one its task check stops gets no p in an audit, so the fit
    /// neither learns from it nor calibrates its threshold on it (the test split keeps them, counted as inconclusive).
    /// </summary>
    private List<SurveyRecord> DoingTheirTask(List<SurveyRecord> records, string split)
    {
        List<SurveyRecord> kept = [.. records.Where(r => TaskCheck.Of(r).AboveLevel)];
        if (kept.Count < records.Count)
        {
            Console.WriteLine($"{split}: {records.Count - kept.Count} models not shown to do their task on their evidence (above chance and right on more than half) left out (the probe gives them no p)");
        }

        return kept;
    }

    /// <summary>Most features a design split of <paramref name="clean"/> and <paramref name="backdoored"/> usable models supports (at least one).</summary>
    public static int FeatureCap(int clean, int backdoored) => Math.Max(1, Math.Min(clean, backdoored) / EventsPerFeature);

    public int Run(IReadOnlyList<string>? forcedFeatures = null, bool leaveArchitectureOut = false)
    {
        List<SurveyRecord> designRecords = DoingTheirTask(SurveyReportData(ZooSplits.Design), ZooSplits.Design);
        IReadOnlyList<string> names = forcedFeatures ?? SelectFeatures(designRecords, Console.Out, leaveArchitectureOut ? ArchitectureOf : null);
        if (names.Count == 0)
        {
            Console.Error.WriteLine("No features to fit on: survey the design split first.");
            return 1;
        }

        IReadOnlyDictionary<string, double> imputed = ImputationMeans(designRecords, names);
        List<(double[] Features, int Label, SurveyRecord Record)> design = Labelled(designRecords, names, imputed);
        List<(double[] Features, int Label, SurveyRecord Record)> calibration = Labelled(DoingTheirTask(SurveyReportData(ZooSplits.Calibration), ZooSplits.Calibration), names, imputed);
        List<SurveyRecord> testRecords = SurveyReportData(ZooSplits.Test);
        List<(double[] Features, int Label, SurveyRecord Record)> test = Labelled(testRecords, names, imputed);
        if (design.Count(d => d.Label == 1) < 2 || design.Count(d => d.Label == 0) < 2 || calibration.Count(c => c.Label == 0) < 2)
        {
            Console.Error.WriteLine($"Too few surveyed models to fit: design {design.Count}, calibration {calibration.Count}. Run `survey` first.");
            return 1;
        }

        TrojanLikelihoodModel model = Fit(names, design.Select(d => (d.Features, d.Label)).ToList(), calibration.Select(c => (c.Features, c.Label)).ToList(), DateTimeOffsetText());
        model = model with { Test = test.Count == 0 ? null : Measure(model, test, TaskCheck, StoppedInSurvey(testRecords)), TestMeasured = test.Count == 0 ? null : model.Generated };
        string path = output ?? DefaultOutput;
        File.WriteAllText(path, model.FileText());
        Console.WriteLine($"wrote {path}: features {string.Join(", ", names)}; design {design.Count(d => d.Label == 0)} clean + {design.Count(d => d.Label == 1)} backdoored, calibration {calibration.Count(c => c.Label == 0)} + {calibration.Count(c => c.Label == 1)}, test {test.Count(t => t.Label == 0)} + {test.Count(t => t.Label == 1)}");
        double threshold = model.ConformalThreshold(model.DefaultTargetFalseFailRate, out double guaranteed);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"coefficients {string.Join(", ", model.Coefficients.Select(c => c.ToString("F3", CultureInfo.InvariantCulture)))}, intercept {model.Intercept:F3}; Platt slope {model.PlattSlope:F3}, intercept {model.PlattIntercept:F3}; threshold {threshold:F4} (conformal quantile of {model.CalibrationCleanProbabilities.Count} clean, floor {model.MinimumThreshold}), guaranteed false-fail rate {guaranteed:P1}"));
        Console.WriteLine($"calibration bins: {string.Join("; ", model.CalibrationBins.Select(b => $"[{b.Lower}, {b.Upper}) {b.Backdoored}/{b.Total} backdoored"))}");
        Console.WriteLine(JsonSerializer.Serialize(model.Test, TrojanLikelihoodModel.JsonOptions));
        return 0;
    }

    /// <summary>
    /// Chooses the features on the design split alone: greedy forward selection by leave-one-out log loss of the
    /// ridge logistic regression, at most <see cref="FeatureCap"/> (one per <see cref="EventsPerFeature"/> models of the
    /// smaller class), stopping when no feature lowers the loss. Few features generalise better from a few tens of
    /// models than all of them (the first fit's seven weights rewarded statistics that were as high on clean models'
    /// natural triggers as on implants). The log gives each step's loss with its standard error and marks the prefix
    /// the one-standard-error rule would keep (<see cref="OneStandardErrorPrefix"/>); that rule was tried on
    /// 2026-12-04 and not adopted (docs/probes.md).
    /// </summary>
    /// <remarks>
    /// With <paramref name="groupOf"/> (fit --select-by architecture), each candidate is scored instead by
    /// leave-one-group-out log loss: every model's loss under the fit on the other groups' models only (grouped
    /// cross-validation; Roberts et al., "Cross-validation strategies for data with temporal, spatial, hierarchical, or
    /// phylogenetic structure", Ecography 2017). Audited models come from recipes the zoo lacks; a feature whose clean
    /// values move with the architecture scores well under leave-one-out (its neighbours share the architecture) and
    /// badly when the whole architecture is held out, which is the situation a foreign model is in.
    /// </remarks>
    public static IReadOnlyList<string> SelectFeatures(IReadOnlyList<SurveyRecord> design, TextWriter log, Func<SurveyRecord, string>? groupOf = null)
    {
        var usable = Usable(design);
        if (usable.Count == 0)
        {
            return [];
        }

        // Candidates: the features every design model has (or, for an optional detector, has or was inconclusive on, as
        // the probe then imputes), the base detectors' first, in their fixed order.
        bool Everywhere(string name) => usable.All(u => u.Features.ContainsKey(name)
            || (TrojanLikelihoodModel.Imputable(name) && u.Record.InconclusiveDetectors().Contains(TrojanLikelihoodModel.DetectorOf(name))));
        List<string> candidates = [.. TrojanLikelihoodFeatures.Names.Where(Everywhere),
            .. usable.SelectMany(u => u.Features.Keys).Distinct().Where(k => !TrojanLikelihoodFeatures.Names.Contains(k) && Everywhere(k)).Order(StringComparer.Ordinal)];
        IReadOnlyDictionary<string, double> imputed = ImputationMeans(design, candidates);
        int clean = usable.Count(u => u.Label == 0), backdoored = usable.Count - clean;
        int cap = FeatureCap(clean, backdoored);
        log.WriteLine($"at most {cap} features: {clean} clean and {backdoored} backdoored design models, one feature per {EventsPerFeature} of the smaller class");
        string scoring = groupOf is null ? "leave-one-out" : "leave-one-group-out";
        if (groupOf is not null)
        {
            log.WriteLine($"scored by {scoring} log loss over the groups {string.Join(", ", usable.GroupBy(u => groupOf(u.Record)).Select(g => $"{g.Key} ({g.Count()})"))}");
        }

        var path = new List<string>();
        var losses = new List<double[]>();
        double best = double.PositiveInfinity;
        while (path.Count < cap)
        {
            (string? name, double loss, double[]? perModel) = (null, best, null);
            foreach (string candidate in candidates.Except(path))
            {
                var rows = Labelled(design, [.. path, candidate], imputed);
                double[][] x = rows.Select(r => r.Features).ToArray();
                int[] y = rows.Select(r => r.Label).ToArray();
                double[] each = groupOf is null ? LeaveOneOutLosses(x, y) : LeaveGroupOutLosses(x, y, rows.Select(r => groupOf(r.Record)).ToArray());
                double l = each.Average();
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  [{string.Join(", ", [.. path, candidate])}]: {scoring} log loss {l:F4} over {rows.Count} design models"));
                if (l < loss - 1e-6)
                {
                    (name, loss, perModel) = (candidate, l, each);
                }
            }

            if (name is null)
            {
                break;
            }

            path.Add(name);
            losses.Add(perModel!);
            best = loss;
        }

        // Each step with its standard error, so a reader sees which steps are within the noise of the design split;
        // the one-standard-error rule is reported, not applied (docs/probes.md, "The one-standard-error rule").
        int oneStandardError = OneStandardErrorPrefix(losses);
        for (int k = 0; k < losses.Count; k++)
        {
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  path {k + 1}: {path[k]}, {scoring} log loss {losses[k].Average():F4} ± {StandardError(losses[k]):F4}{(k + 1 == oneStandardError ? " (the shortest within one standard error of the lowest)" : "")}"));
        }

        log.WriteLine($"chosen on the design split: {string.Join(", ", path)}");
        return path;
    }

    /// <summary>
    /// How many features of a forward-selection path the one-standard-error rule (Breiman, Friedman, Olshen & Stone,
    /// <i>Classification and Regression Trees</i>, 1984; Hastie, Tibshirani & Friedman, <i>The Elements of Statistical
    /// Learning</i>, 2nd ed. 2009, §7.10) keeps: the fewest whose mean
    /// leave-one-out loss is at most the lowest mean plus that lowest one's standard error (the sample standard
    /// deviation of its per-model losses over √n). <paramref name="path"/> holds the per-model losses after each step.
    /// </summary>
    public static int OneStandardErrorPrefix(IReadOnlyList<double[]> path)
    {
        if (path.Count == 0)
        {
            return 0;
        }

        int lowest = Enumerable.Range(0, path.Count).MinBy(k => path[k].Average());
        double ceiling = path[lowest].Average() + StandardError(path[lowest]);
        return 1 + Enumerable.Range(0, path.Count).First(k => path[k].Average() <= ceiling);
    }

    private static double StandardError(double[] values)
    {
        if (values.Length < 2)
        {
            return 0;
        }

        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1) / values.Length);
    }

    /// <summary>The group fit --select-by architecture holds out at once: the model's network family.</summary>
    public static string ArchitectureOf(SurveyRecord record) => record.Recipe.ArchitectureName;

    /// <summary>
    /// Each model's log loss under the standardised ridge logistic regression fitted on the models of the other groups
    /// only (positive infinity for every model when holding a group out leaves a single class).
    /// </summary>
    public static double[] LeaveGroupOutLosses(double[][] x, int[] y, string[] groups)
    {
        double[] losses = new double[x.Length];
        foreach (string group in groups.Distinct())
        {
            int[] held = Enumerable.Range(0, x.Length).Where(i => groups[i] == group).ToArray();
            int[] rest = Enumerable.Range(0, x.Length).Where(i => groups[i] != group).ToArray();
            if (rest.Select(j => y[j]).Distinct().Count() < 2)
            {
                Array.Fill(losses, double.PositiveInfinity);
                return losses;
            }

            (double[] means, double[] scales) = Standardisation(rest.Select(j => x[j]).ToArray());
            double[][] train = rest.Select(j => Standardise(x[j], means, scales)).ToArray();
            (double[] w, double b) = Logistic(train, rest.Select(j => y[j]).ToArray(), Ridge);
            foreach (int i in held)
            {
                double[] row = Standardise(x[i], means, scales);
                double p = Math.Clamp(TrojanLikelihoodModel.Sigmoid(b + row.Select((v, k) => v * w[k]).Sum()), 1e-6, 1 - 1e-6);
                losses[i] = -(y[i] == 1 ? Math.Log(p) : Math.Log(1 - p));
            }
        }

        return losses;
    }

    /// <summary>Mean leave-one-out log loss of the standardised ridge logistic regression.</summary>
    public static double LeaveOneOutLoss(double[][] x, int[] y) => LeaveOneOutLosses(x, y).Average();

    /// <summary>
    /// Each model's log loss under the standardised ridge logistic regression fitted on all the others (positive
    /// infinity for every model when leaving one out leaves a single class).
    /// </summary>
    public static double[] LeaveOneOutLosses(double[][] x, int[] y) =>
        LeaveGroupOutLosses(x, y, [.. Enumerable.Range(0, x.Length).Select(i => i.ToString(CultureInfo.InvariantCulture))]);

    private static (double[] Means, double[] Scales) Standardisation(double[][] x)
    {
        int d = x[0].Length;
        double[] means = new double[d], scales = new double[d];
        for (int j = 0; j < d; j++)
        {
            means[j] = x.Average(r => r[j]);
            double sd = Math.Sqrt(x.Average(r => Math.Pow(r[j] - means[j], 2)));
            scales[j] = sd > 1e-9 ? sd : 1;
        }

        return (means, scales);
    }

    private static double[] Standardise(double[] row, double[] means, double[] scales) => row.Select((v, j) => (v - means[j]) / scales[j]).ToArray();

    /// <summary>Reads a model file the fit command wrote.</summary>
    public static TrojanLikelihoodModel Load(string path) =>
        JsonSerializer.Deserialize<TrojanLikelihoodModel>(File.ReadAllText(path), TrojanLikelihoodModel.JsonOptions)!;

    private List<SurveyRecord> SurveyReportData(string split) => ZooSurvey.Read(cacheFolder, split);

    private static string DateTimeOffsetText() => UtcMinute() + " by tools/Audit.ModelZoo fit";

    /// <summary>The current UTC minute, as the tool stamps what it writes.</summary>
    internal static string UtcMinute() => TimeProvider.System.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm'Z'", CultureInfo.InvariantCulture);

    /// <summary>
    /// Clean models (label 0) and backdoored models whose backdoor took (label 1), with the values of
    /// <paramref name="names"/>; failed implants are left out, and so are models missing a feature that cannot be imputed
    /// (an optional detector's feature on a model it was inconclusive on takes <paramref name="imputed"/>'s value).
    /// </summary>
    public static List<(double[] Features, int Label, SurveyRecord Record)> Labelled(IEnumerable<SurveyRecord> records, IReadOnlyList<string> names, IReadOnlyDictionary<string, double> imputed) =>
        Usable(records)
            .Select(u => (Values: u.Record.Values(names, imputed), u.Label, u.Record))
            .Where(u => u.Values is not null)
            .Select(u => (u.Values!, u.Label, u.Record))
            .ToList();

    /// <summary>
    /// What an optional detector's feature is set to on a model the detector was inconclusive on: its mean over the
    /// usable design models that have it. The fitted model's standardisation mean is then the same number (a row at the
    /// mean leaves the mean unchanged), which is what the probe imputes at audit time.
    /// </summary>
    public static IReadOnlyDictionary<string, double> ImputationMeans(IEnumerable<SurveyRecord> design, IEnumerable<string> names)
    {
        var usable = Usable(design);
        var means = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string name in names.Where(TrojanLikelihoodModel.Imputable))
        {
            double[] present = [.. usable.Where(u => u.Features.ContainsKey(name)).Select(u => u.Features[name])];
            if (present.Length > 0)
            {
                means[name] = present.Average();
            }
        }

        return means;
    }

    /// <summary>
    /// The models a fit can use, with every feature their findings give: clean ones (label 0) and backdoored ones whose
    /// backdoor took (label 1); failed implants and models whose base detectors were inconclusive are left out.
    /// </summary>
    public static List<(SurveyRecord Record, IReadOnlyDictionary<string, double> Features, int Label)> Usable(IEnumerable<SurveyRecord> records) =>
        records.Where(r => !r.Recipe.Backdoored || r.Implanted)
            .Select(r => (Record: r, Features: r.Features()))
            .Where(x => x.Features is not null)
            .Select(x => (x.Record, x.Features!, x.Record.Recipe.Backdoored ? 1 : 0))
            .ToList();

    /// <summary>Logistic regression on <paramref name="design"/>, Platt scaling and conformal scores from <paramref name="calibration"/>.</summary>
    public static TrojanLikelihoodModel Fit(IReadOnlyList<string> names, IReadOnlyList<(double[] Features, int Label)> design, IReadOnlyList<(double[] Features, int Label)> calibration, string generated)
    {
        (double[] means, double[] scales) = Standardisation(design.Select(x => x.Features).ToArray());
        double[][] standardised = design.Select(x => Standardise(x.Features, means, scales)).ToArray();
        (double[] weights, double intercept) = Logistic(standardised, design.Select(x => x.Label).ToArray(), Ridge);
        var unscaled = new TrojanLikelihoodModel(
            generated, [.. names], means, scales, weights, intercept, 1, 0, [], [], design.Count(x => x.Label == 0), design.Count(x => x.Label == 1), 0, 0.05, null);

        double[] logits = calibration.Select(c => unscaled.Logit(c.Features)).ToArray();
        (double slope, double offset) = Platt(logits, calibration.Select(c => c.Label).ToArray());
        TrojanLikelihoodModel calibrated = unscaled with { PlattSlope = slope, PlattIntercept = offset, CalibrationBackdoored = calibration.Count(c => c.Label == 1) };
        double[] probabilities = calibration.Select(c => calibrated.Probability(c.Features)).ToArray();
        var bins = new List<LikelihoodBin>();
        for (int b = 0; b + 1 < Bins.Length; b++)
        {
            double lower = Bins[b], upper = Bins[b + 1];
            int[] members = Enumerable.Range(0, probabilities.Length)
                .Where(i => probabilities[i] >= lower && (probabilities[i] < upper || (upper >= 1 && probabilities[i] <= 1)))
                .ToArray();
            bins.Add(new LikelihoodBin(lower, upper, members.Count(i => calibration[i].Label == 1), members.Length));
        }

        return calibrated with
        {
            MinimumThreshold = MinimumThreshold,
            CalibrationCleanProbabilities = Enumerable.Range(0, probabilities.Length).Where(i => calibration[i].Label == 0).Select(i => Math.Round(probabilities[i], 6)).Order().ToArray(),
            CalibrationBins = bins,
        };
    }

    /// <summary>The class trojan-likelihood names for a surveyed model: that of the detector its verdict rests on most (as the probe does).</summary>
    public static int? SuspectedClass(TrojanLikelihoodModel model, SurveyRecord record) =>
        model.SuspectedClass(record.FeaturesFor(model)!, name => record.Probes.TryGetValue(name, out ProbeResult? result) ? result.SuspectedClass : null).Class;

    /// <summary>
    /// The rates of <paramref name="model"/> on surveyed models (the test split's, for the figures every finding and
    /// report states), each model's features read as an audit reads them: an optional detector's feature that was
    /// inconclusive takes the model's own design mean. Failed implants and models without the base features are left out,
    /// except the models the survey's own task check stopped (<see cref="StoppedInSurvey"/>), counted as inconclusive.
    /// </summary>
    public static LikelihoodTestRates MeasureOn(TrojanLikelihoodModel model, IEnumerable<SurveyRecord> records, ZooTaskCheck? taskCheck = null)
    {
        List<SurveyRecord> all = [.. records];
        return Measure(model, [.. Usable(all).Select(u => (Features: u.Record.FeaturesFor(model), u.Label, u.Record))
            .Where(u => u.Features is not null).Select(u => (u.Features!, u.Label, u.Record))], taskCheck, StoppedInSurvey(all));
    }

    /// <summary>
    /// The counted models (clean, or backdoored with an implant that took) whose survey stopped on the task check
    /// (<see cref="SurveyRecord.StoppedByTheTaskCheck"/>): no statistics, so <see cref="Usable"/> cannot read them, yet the
    /// probe answers them inconclusive and the rates must count them so (until 2026-12-07 they were left out).
    /// </summary>
    public static List<SurveyRecord> StoppedInSurvey(IEnumerable<SurveyRecord> records) =>
        [.. records.Where(r => (!r.Recipe.Backdoored || r.Implanted) && r.StoppedByTheTaskCheck)];

    /// <summary>
    /// `remeasure`: writes into the model file the rates <see cref="MeasureOn"/> gives on the surveyed test split, leaving
    /// every fitted number as it is, so the figures a finding states come from the committed survey and anyone can
    /// recompute them. For a model fitted on a survey that was not kept, or a test split surveyed again.
    /// </summary>
    public int Remeasure(bool manyClasses = false, bool unfamiliar = false)
    {
        string path = output ?? DefaultOutput;
        TrojanLikelihoodModel model = Load(path);
        List<SurveyRecord> test = SurveyReportData(ZooSplits.Test);
        if (test.Count == 0)
        {
            Console.Error.WriteLine($"No surveyed test split under {cacheFolder}: run `survey --split test` first.");
            return 1;
        }

        LikelihoodTestRates rates = MeasureOn(model, test, TaskCheck);
        Console.WriteLine($"was: {JsonSerializer.Serialize(manyClasses ? model.ManyClassTest : unfamiliar ? model.UnfamiliarTest : model.Test, TrojanLikelihoodModel.JsonOptions)}");
        // Models surveyed before a detector the fit reads joined the survey have no value for it and are left out (a
        // resurvey with --add-probe brings them in); the stamp says how many, so a partial reading cannot pass for a whole one.
        int leftOut = Usable(test).Count + StoppedInSurvey(test).Count - (rates.Clean + rates.Backdoored);
        string measured = UtcMinute() + $" by tools/Audit.ModelZoo remeasure{(manyClasses ? " --catalog many-class" : unfamiliar ? " --catalog unfamiliar" : "")} on {cacheFolder}/survey/test.jsonl ({rates.Clean} clean, {rates.Backdoored} backdoored models"
            + (rates.InconclusiveClean + rates.InconclusiveBackdoored > 0 ? $"; {rates.InconclusiveClean} clean and {rates.InconclusiveBackdoored} backdoored of them not shown to do their task (above chance and right on more than half of the evidence), inconclusive" : "")
            + (leftOut > 0 ? $"; {leftOut} more surveyed without a detector the fit reads, left out)" : ")");
        // The 43-class slice's rates go beside the ten-class test rates, never over them: the model was fitted and
        // calibrated on ten-class models, so the slice says how its rates carry over to models unlike them. The
        // unfamiliar-recipes slice's likewise: its models were trained the way no fitted model was.
        TrojanLikelihoodModel remeasured = manyClasses
            ? model with { ManyClassTest = rates, ManyClassTestMeasured = measured }
            : unfamiliar
                ? model with { UnfamiliarTest = rates, UnfamiliarTestMeasured = measured }
                : model with { Test = rates, TestMeasured = measured };
        File.WriteAllText(path, remeasured.FileText());
        Console.WriteLine($"wrote {path}: {JsonSerializer.Serialize(rates, TrojanLikelihoodModel.JsonOptions)}");
        return 0;
    }

    /// <summary>
    /// `calibrate --catalog many-class`: writes into the model file the probabilities of the 43-class slice's clean design
    /// and calibration models that the task check lets through, on which the probe sets the conformal threshold of a model
    /// with more than ten classes (<see cref="TrojanLikelihoodModel.CalibrationCleanProbabilitiesFor"/>). Every fitted
    /// number stays as it is: only the threshold's reference population changes, to models of the audited model's kind.
    /// No fit reads the slice, so both of its splits can calibrate; its test split stays held out for the rates.
    /// </summary>
    public int CalibrateManyClasses()
    {
        string path = output ?? DefaultOutput;
        TrojanLikelihoodModel model = Load(path);
        List<SurveyRecord> surveyed = [.. SurveyReportData(ZooSplits.Design), .. SurveyReportData(ZooSplits.Calibration)];
        if (surveyed.Count == 0 || surveyed.Any(r => r.Recipe.Classes <= TrojanLikelihoodModel.FittedClasses))
        {
            Console.Error.WriteLine($"calibrate reads the surveyed design and calibration splits of the many-class catalog (--catalog many-class); {cacheFolder} holds {(surveyed.Count == 0 ? "none" : "models of ten classes or fewer")}.");
            return 1;
        }

        List<SurveyRecord> clean = [.. surveyed.Where(r => !r.Recipe.Backdoored)];
        double[]? probabilities = ManyClassCalibration(model, surveyed, TaskCheck);
        if (probabilities is null)
        {
            Console.Error.WriteLine("Some of these models were surveyed without a detector the fit reads: run `survey --add-probe` on them first.");
            return 1;
        }

        string measured = UtcMinute() + $" by tools/Audit.ModelZoo calibrate --catalog many-class on {cacheFolder}/survey/design.jsonl and calibration.jsonl ({probabilities.Length} clean models doing their task; {clean.Count - probabilities.Length} more not shown to, left out as the probe gives them no p)";
        TrojanLikelihoodModel calibrated = model with { ManyClassCalibrationCleanProbabilities = probabilities, ManyClassCalibrationMeasured = measured };
        double threshold = calibrated.ConformalThreshold(calibrated.DefaultTargetFalseFailRate, TintedClasses.Count, out double guaranteed);
        File.WriteAllText(path, calibrated.FileText());
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {path}: {probabilities.Length} clean 43-class probabilities; threshold for models of more than ten classes {threshold:F4} (ten-class {model.ConformalThreshold(model.DefaultTargetFalseFailRate, out _):F4}), guaranteed false-fail rate {guaranteed:P1}"));
        return 0;
    }

    /// <summary>
    /// The sorted probabilities (rounded as the model file keeps them) of the clean models among <paramref name="surveyed"/>
    /// that <paramref name="taskCheck"/> lets through, each read as an audit reads it; null when one lacks a feature the fit reads.
    /// </summary>
    public static double[]? ManyClassCalibration(TrojanLikelihoodModel model, IEnumerable<SurveyRecord> surveyed, ZooTaskCheck taskCheck)
    {
        List<double[]?> features = [.. surveyed.Where(r => !r.Recipe.Backdoored && taskCheck.Of(r).AboveLevel).Select(r => r.FeaturesFor(model))];
        return features.Any(f => f is null) ? null : [.. features.Select(f => Math.Round(model.Probability(f!), 6)).Order()];
    }

    /// <summary>Rates at the default conformal threshold on held-out models.</summary>
    /// <remarks>
    /// With <paramref name="taskCheck"/>, a model it finds not doing its task (not above chance, or not right on more than half) is inconclusive, as the probe answers it
    /// (docs/probes.md, "Models at chance accuracy", "Models wrong on most of their evidence"); without, every model gets a verdict (the readings before the check).
    /// </remarks>
    public static LikelihoodTestRates Measure(TrojanLikelihoodModel model, IReadOnlyList<(double[] Features, int Label, SurveyRecord Record)> held, ZooTaskCheck? taskCheck = null, IReadOnlyList<SurveyRecord>? stopped = null)
    {
        IEnumerable<HeldOutOutcome> stoppedOutcomes = (stopped ?? []).Select(r => new HeldOutOutcome(
            r.Recipe.Backdoored ? 1 : 0, double.NaN, Flagged: false, RightTarget: false, r.Recipe.AttackName, r.Recipe.ArchitectureName, PatchPlacement(r.Recipe), Inconclusive: true));
        return Rates([.. stoppedOutcomes, .. held.Select(h =>
        {
            // A 43-class model is thresholded on the 43-class calibration models when the model file records them, as the probe does.
            double threshold = model.ConformalThreshold(model.DefaultTargetFalseFailRate, h.Record.Recipe.Classes, out _);
            double p = model.Probability(h.Features);
            return new HeldOutOutcome(h.Label, p, p >= threshold, SuspectedClass(model, h.Record) == h.Record.Recipe.TargetClass,
                h.Record.Recipe.AttackName, h.Record.Recipe.ArchitectureName, PatchPlacement(h.Record.Recipe),
                taskCheck?.Of(h.Record) is { AboveLevel: false });
        })]);
    }

    /// <summary>One held-out model's outcome at the default threshold, as the stated rates count it.</summary>
    /// <param name="Placement">For an all-to-one patch trigger, where it sits (<see cref="PatchPlacement"/>); else null.</param>
    /// <param name="Inconclusive">Not shown to do its task on the evidence: the probe gives no verdict (never flagged, no p).</param>
    internal sealed record HeldOutOutcome(int Label, double Probability, bool Flagged, bool RightTarget, string Attack, string Architecture, string? Placement = null, bool Inconclusive = false)
    {
        /// <summary>Failed by the verdict: flagged and not inconclusive.</summary>
        public bool Failed => Flagged && !Inconclusive;
    }

    /// <summary>
    /// "patch at the border" or "patch in the centre" for plain and low-rate patch triggers (<see cref="ZooRecipe.PlacementName"/>),
    /// null for other attacks: source-specific patches are missed wherever they sit, and would hide the placement's effect.
    /// </summary>
    internal static string? PatchPlacement(ZooRecipe recipe) =>
        recipe.AttackName is "patch" or "low-rate" ? $"patch {(recipe.PlacementName == "centre" ? "in the centre" : "at the border")}" : null;

    /// <summary>
    /// The rates every finding states, from held-out outcomes (the zoo's test split, the 43-class slice, the foreign
    /// zoo's audits): false fails, misses, AUROC of p, right targets, and the breakdowns by attack and architecture.
    /// </summary>
    internal static LikelihoodTestRates Rates(IReadOnlyList<HeldOutOutcome> held)
    {
        int clean = held.Count(h => h.Label == 0), backdoored = held.Count(h => h.Label == 1);
        int falseFails = held.Count(h => h.Label == 0 && h.Failed);
        int detected = held.Count(h => h.Label == 1 && h.Failed);
        int right = held.Count(h => h.Label == 1 && h.Failed && h.RightTarget);
        // The ranking is read over the models that got a probability: an inconclusive model has none.
        double auroc = SurveyReport.Auroc(
            [.. held.Where(h => h.Label == 1 && !h.Inconclusive).Select(h => h.Probability)],
            [.. held.Where(h => h.Label == 0 && !h.Inconclusive).Select(h => h.Probability)]);
        List<LikelihoodAttackRates> byAttack = [.. held.Where(h => h.Label == 1)
            .GroupBy(h => h.Attack).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new LikelihoodAttackRates(g.Key, g.Count(), g.Count(h => h.Failed), g.Count(h => h.Failed && h.RightTarget)))];
        List<LikelihoodAttackRates> byPlacement = [.. held.Where(h => h.Label == 1 && h.Placement is not null)
            .GroupBy(h => h.Placement!).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new LikelihoodAttackRates(g.Key, g.Count(), g.Count(h => h.Failed), g.Count(h => h.Failed && h.RightTarget)))];
        List<LikelihoodArchitectureRates> byArchitecture = [.. held
            .GroupBy(h => h.Architecture).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new LikelihoodArchitectureRates(
                g.Key,
                g.Count(h => h.Label == 0),
                g.Count(h => h.Label == 0 && h.Failed),
                g.Count(h => h.Label == 1),
                g.Count(h => h.Label == 1 && h.Failed)))];
        return new LikelihoodTestRates(
            clean,
            backdoored,
            falseFails,
            backdoored - detected,
            clean == 0 ? 0 : Math.Round(falseFails / (double)clean, 4),
            backdoored == 0 ? 0 : Math.Round((backdoored - detected) / (double)backdoored, 4),
            Math.Round(auroc, 4),
            detected,
            right,
            byAttack,
            byArchitecture,
            byPlacement.Count == 0 ? null : byPlacement,
            held.Count(h => h.Label == 0 && h.Inconclusive),
            held.Count(h => h.Label == 1 && h.Inconclusive));
    }

    /// <summary>L2-penalised logistic regression by Newton's method (intercept unpenalised).</summary>
    public static (double[] Weights, double Intercept) Logistic(double[][] x, int[] y, double ridge, int iterations = 50)
    {
        int n = x.Length, d = x[0].Length;
        var beta = new double[d + 1]; // beta[d] is the intercept
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            var gradient = new double[d + 1];
            var hessian = new double[d + 1, d + 1];
            for (int i = 0; i < n; i++)
            {
                double z = beta[d];
                for (int j = 0; j < d; j++)
                {
                    z += beta[j] * x[i][j];
                }

                double p = TrojanLikelihoodModel.Sigmoid(z), w = Math.Max(p * (1 - p), 1e-10);
                for (int j = 0; j <= d; j++)
                {
                    double xj = j < d ? x[i][j] : 1;
                    gradient[j] += (p - y[i]) * xj;
                    for (int k = 0; k <= d; k++)
                    {
                        hessian[j, k] += w * xj * (k < d ? x[i][k] : 1);
                    }
                }
            }

            for (int j = 0; j < d; j++)
            {
                gradient[j] += ridge * beta[j];
                hessian[j, j] += ridge;
            }

            double[] step = Solve(hessian, gradient);
            double size = 0;
            for (int j = 0; j <= d; j++)
            {
                beta[j] -= step[j];
                size = Math.Max(size, Math.Abs(step[j]));
            }

            if (size < 1e-10)
            {
                break;
            }
        }

        return (beta[..d], beta[d]);
    }

    /// <summary>
    /// Platt scaling (Platt, 1999): p = σ(a·z + b) fitted by Newton's method on the calibration logits, with Platt's
    /// smoothed targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2), which keep a separable calibration set from an infinite slope.
    /// </summary>
    public static (double Slope, double Intercept) Platt(double[] logits, int[] labels)
    {
        int positives = labels.Count(l => l == 1), negatives = labels.Length - positives;
        double high = (positives + 1.0) / (positives + 2.0), low = 1.0 / (negatives + 2.0);
        double a = 1, b = 0;
        for (int iteration = 0; iteration < 100; iteration++)
        {
            double ga = 0, gb = 0, haa = 1e-9, hab = 0, hbb = 1e-9;
            for (int i = 0; i < logits.Length; i++)
            {
                double t = labels[i] == 1 ? high : low;
                double p = TrojanLikelihoodModel.Sigmoid(a * logits[i] + b), w = p * (1 - p);
                ga += (p - t) * logits[i];
                gb += p - t;
                haa += w * logits[i] * logits[i];
                hab += w * logits[i];
                hbb += w;
            }

            double det = haa * hbb - hab * hab;
            if (Math.Abs(det) < 1e-15)
            {
                break;
            }

            double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if (Math.Abs(da) + Math.Abs(db) < 1e-12)
            {
                break;
            }
        }

        return (a, b);
    }

    private static double[] Solve(double[,] matrix, double[] vector)
    {
        int n = vector.Length;
        var a = (double[,])matrix.Clone();
        var b = (double[])vector.Clone();
        for (int col = 0; col < n; col++)
        {
            int pivot = col;
            for (int row = col + 1; row < n; row++)
            {
                if (Math.Abs(a[row, col]) > Math.Abs(a[pivot, col]))
                {
                    pivot = row;
                }
            }

            for (int k = 0; k < n; k++)
            {
                (a[col, k], a[pivot, k]) = (a[pivot, k], a[col, k]);
            }

            (b[col], b[pivot]) = (b[pivot], b[col]);
            for (int row = col + 1; row < n; row++)
            {
                double factor = a[row, col] / a[col, col];
                for (int k = col; k < n; k++)
                {
                    a[row, k] -= factor * a[col, k];
                }

                b[row] -= factor * b[col];
            }
        }

        var x = new double[n];
        for (int row = n - 1; row >= 0; row--)
        {
            double sum = b[row];
            for (int k = row + 1; k < n; k++)
            {
                sum -= a[row, k] * x[k];
            }

            x[row] = sum / a[row, row];
        }

        return x;
    }
}
