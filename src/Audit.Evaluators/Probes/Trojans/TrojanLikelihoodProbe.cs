using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A calibrated probability that a classifier carries a backdoor, from the four trojan detectors' statistics: a
/// logistic regression (a meta-classifier over detector outputs, in the spirit of Xu et al., <i>Detecting AI Trojans
/// Using Meta Neural Analysis</i>, IEEE S&amp;P 2021) fitted on the model zoo's design split, Platt-scaled (Platt,
/// 1999) on its calibration split, and flagged above a split-conformal threshold (Vovk et al., 2005; Angelopoulos and
/// Bates, 2021) set on the calibration split's clean models so that at most <c>targetFalseFailRate</c> of clean
/// models exchangeable with them fail; for a model of more than ten classes, on the zoo's clean 43-class models instead.
/// </summary>
/// <remarks>
/// Assumes the audited model is like the zoo's (small Fashion-MNIST-style image classifiers, NCHW, all-to-one or
/// source-specific triggers): the guarantee is about models exchangeable with the calibration models, nothing more.
/// The coefficients, calibration map and threshold are data (<c>TrojanLikelihoodModel.json</c>, written by
/// <c>tools/Audit.ModelZoo fit</c>). Score = probability / threshold; ≥ 1 fails.
/// </remarks>
public sealed class TrojanLikelihoodProbe : IProbe
{
    private readonly TrojanLikelihoodModel? _model;
    private readonly List<IProbe> _detectors;

    /// <summary>Uses the embedded fitted model.</summary>
    public TrojanLikelihoodProbe()
        : this(TrojanLikelihoodModel.Embedded())
    {
    }

    /// <summary>Uses <paramref name="model"/> (null: the probe answers inconclusive) and the built-in trojan detectors.</summary>
    public TrojanLikelihoodProbe(TrojanLikelihoodModel? model)
        : this(model, TrojanProbes.All())
    {
    }

    /// <summary>
    /// Uses <paramref name="model"/> with the detectors it reads, taken from <paramref name="detectors"/>: the four
    /// base detectors always (Neural Cleanse names the suspected class), any other only when the model has a feature
    /// of it.
    /// </summary>
    public TrojanLikelihoodProbe(TrojanLikelihoodModel? model, IEnumerable<IProbe> detectors)
    {
        ArgumentNullException.ThrowIfNull(detectors);
        _model = model;
        IReadOnlyList<string> needed = TrojanLikelihoodFeatures.DetectorsFor(model?.Features ?? []);
        List<IProbe> available = [.. detectors];
        _detectors = needed.Select(name => available.FirstOrDefault(d => d.Descriptor.Name == name)
            ?? throw new ArgumentException($"The fitted model reads the detector '{name}', which is not among the given detectors.", nameof(detectors))).ToList();
        double defaultThreshold = model?.ConformalThreshold(model.DefaultTargetFalseFailRate, out _) ?? 0.5;
        Descriptor = new ProbeDescriptor(
            "trojan-likelihood",
            "Calibrated backdoor likelihood (meta-classifier over the trojan detectors)",
            "Wang et al. (Neural Cleanse, S&P 2019), Gao et al. (STRIP, ACSAC 2019), Chen et al. (activation clustering, 2018), Tran et al. (spectral signatures, NeurIPS 2018); Platt scaling (1999); split-conformal calibration (Vovk et al., 2005)",
            ModelKinds.Classifier,
            EvidenceKind.Inputs,
            DefaultThreshold: Math.Round(defaultThreshold, 6),
            ThresholdMeaning: "Calibrated probability that the model is backdoored; flagged when ≥ threshold. Without an explicit threshold, the split-conformal threshold for targetFalseFailRate on the calibration split's clean models (for a model of more than ten classes, on the zoo's clean 43-class models): the default shown is the ten-class one.",
            [
                new ProbeParameter(
                    "targetFalseFailRate",
                    ProbeParameterType.Number,
                    "Share of clean models (like the calibration models) allowed to fail; sets the conformal threshold when the profile gives none.",
                    ProbeParameters.Json(model?.DefaultTargetFalseFailRate ?? 0.05),
                    0.001,
                    0.5),
                // Only the model's input range, not the scan's effort settings (steps, restarts, samples, the reference):
                // the fit's coefficients, its calibration and the error rates every finding states were all measured on
                // statistics the detectors gave at their defaults, so a profile that could change those settings would
                // get a probability that is no longer calibrated, stated as if it were. A profile asking for them is
                // refused (400: no such parameter); Neural Cleanse and the trigger tests keep them as controls of their own.
                TrojanProbeParameters.InputBounds,
            ]);
    }

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; }

    /// <inheritdoc />
    public async Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken)
    {
        if (_model is null)
        {
            return ProbeOutcome.Inconclusive("No fitted trojan-likelihood model is embedded in this build (run tools/Audit.ModelZoo fit).");
        }

        // A model at chance has learnt no task a trigger could redirect, and one collapsed onto a class looks to every
        // trigger inversion like a trigger of size zero: its p would measure the collapse (docs/probes.md, "Models at
        // chance accuracy"). Checked before the detectors, so this probe spends one forward pass on such a model, not a
        // scan; the check is the audit's, shared with the profile's supporting detectors, which stop on it too.
        TaskCheckResult check = await Task.Run(() => TaskCheck.Of(context, Descriptor, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (check.Classes is > 0 and < TaskCheck.FewestClasses)
        {
            return TaskCheck.TooFewClasses(check, "No backdoor detector was run.");
        }

        if (check.Test is { AboveLevel: false } failed)
        {
            return TaskCheck.NotDoingItsTask(failed, "No backdoor detector was run.");
        }

        using var finished = new CancellationTokenSource();
        OfferEarlyDetectors(context, finished.Token);
        try
        {
            return await RunDetectorsAsync(_model, context, check, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Offers outlive this probe in the session; a detector nobody read by now is not computed later.
            await finished.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Offers the detectors that compute on the audited model only (<see cref="IAuditedModelDetector"/>) as the audit's
    /// idle work. The trigger scan's audited-model lane waits about 3 s for the reference's distillation on the
    /// 10-class example, and these detectors take about 1.5 s together after the scan otherwise (docs/benchmarks.md,
    /// "The audited lane's wait for the reference: detectors done early"). A step computes the detector's finding in
    /// the context its turn below uses (<see cref="Derive"/>), shared through the session, so who computes it changes
    /// when it is ready, never a number.
    /// </summary>
    /// <param name="context">This probe's context.</param>
    /// <param name="finished">Cancelled when this probe has read its detectors: later offers do nothing.</param>
    internal void OfferEarlyDetectors(ProbeContext context, CancellationToken finished)
    {
        foreach (IProbe detector in _detectors)
        {
            if (detector is IAuditedModelDetector early)
            {
                ProbeContext derived = Derive(context, detector.Descriptor, new Progress<double>());
                context.Session.Idle.Offer((model, cancellationToken) => RunEarly(early, detector.Descriptor, derived, model, finished, cancellationToken));
            }
        }
    }

    private static bool RunEarly(IAuditedModelDetector detector, ProbeDescriptor descriptor, ProbeContext derived, Sessions.IdleModel model, CancellationToken finished, CancellationToken cancellationToken)
    {
        // Only a lane that may compute on the audited model (the lanes never run two computations on it at once), and
        // once: after that the session holds the finding, or the detector's turn is computing it.
        if (model != Sessions.IdleModel.Audited || finished.IsCancellationRequested || SharedOutcome.IsStarted(derived, descriptor))
        {
            return false;
        }

        try
        {
            detector.RunHere(derived, cancellationToken);
            return true;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // Early work is optional: a failure is not stored, and the detector meets it again in its turn and reports it.
        catch (Exception)
#pragma warning restore CA1031
        {
            return false;
        }
    }

    private async Task<ProbeOutcome> RunDetectorsAsync(TrojanLikelihoodModel model, ProbeContext context, TaskCheckResult check, CancellationToken cancellationToken)
    {
        // Detectors that need the scan's reference and nothing else of it start now, each on a thread of its own (it
        // blocks for the reference's distillation and then for its lanes, too long to hold one of the few thread-pool
        // threads a two-core service has), and wait for the reference; their lanes then share the cores with the scan's
        // (IRunsBesideTheScan). Their progress is not heard (it would move the bar back and forth between their share
        // and the scan's); their share is reported done in their turn.
        using var besideTheScan = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Dictionary<string, Task<ProbeOutcome>> started = BesideTheScan(context, cancellationToken).ToDictionary(
            d => d.Descriptor.Name,
            d =>
            {
                ProbeContext derived = Derive(context, d.Descriptor, new Progress<double>());
                return Task.Factory.StartNew(() => ((ISharedTrojanDetector)d).RunHere(derived, besideTheScan.Token), besideTheScan.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            },
            StringComparer.Ordinal);
        try
        {
            ProbeOutcome outcome = await RunInTurnAsync(model, context, check, started, cancellationToken).ConfigureAwait(false);
            ModelReadingRecord.AddTo(outcome.Details, context, cancellationToken);
            return outcome;
        }
        finally
        {
            // A base detector inconclusive (or a failure) ends this probe before their turn: they stop, and are waited for,
            // so nothing of this audit computes after it.
            await besideTheScan.CancelAsync().ConfigureAwait(false);
            await ((Task)Task.WhenAll(started.Values)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// The detectors this audit starts beside the scan (<see cref="IRunsBesideTheScan"/>): none when the scan refines only
    /// some classes (more than <see cref="TriggerScan.RefinedClasses"/>). Then the scan's lanes are rarely idle, so a
    /// search beside them gains little time (the 43-class fixture's audit: 64–67 s either way) and holds a second working
    /// set while the scan's is largest (its service peak rose from 950 to 993 MiB, against the 1 GB budget); they run in
    /// their turn. Evidence the detectors cannot load starts nothing either: they meet the error in their turn and report
    /// it there, as without this schedule.
    /// </summary>
    internal IReadOnlyList<IProbe> BesideTheScan(ProbeContext context, CancellationToken cancellationToken)
    {
        IProbe[] beside = [.. _detectors.Where(d => d is IRunsBesideTheScan)];
        if (beside.Length == 0)
        {
            return [];
        }

        try
        {
            // The session's model and evidence: loading them again costs a tensor conversion, no import.
            ProbeContext derived = Derive(context, beside[0].Descriptor, new Progress<double>());
            using ClassifierEvidence evidence = ClassifierEvidence.Load(derived, new ProbeParameters(derived, beside[0].Descriptor).Numbers("inputBounds"), cancellationToken);
            return evidence.Classes <= TriggerScan.RefinedClasses ? beside : [];
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // See the summary: such evidence is the detectors' to report, in their turn.
        catch (Exception)
#pragma warning restore CA1031
        {
            return [];
        }
    }

    private async Task<ProbeOutcome> RunInTurnAsync(
        TrojanLikelihoodModel model,
        ProbeContext context,
        TaskCheckResult check,
        Dictionary<string, Task<ProbeOutcome>> started,
        CancellationToken cancellationToken)
    {
        // The detectors share the audit's one trigger scan; each runs with the scan settings given to this probe.
        var findings = new Dictionary<string, ProbeOutcome>(StringComparer.Ordinal);
        var inconclusive = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < _detectors.Count; i++)
        {
            IProbe detector = _detectors[i];
            (double from, double width) = ProgressShare(i, _detectors.Count);
            IProgress<double> progress = new Progress<double>(p => context.Progress.Report(from + (width * p)));
            ProbeOutcome outcome = started.TryGetValue(detector.Descriptor.Name, out Task<ProbeOutcome>? running)
                ? await running.ConfigureAwait(false)
                : await detector.RunAsync(Derive(context, detector.Descriptor, progress), cancellationToken).ConfigureAwait(false);
            progress.Report(1);
            if (outcome.Verdict == Verdict.Inconclusive)
            {
                // A base detector is needed (Neural Cleanse names the class); an optional one's feature is imputed.
                if (TrojanLikelihoodFeatures.BaseDetectors.Contains(detector.Descriptor.Name))
                {
                    return ProbeOutcome.Inconclusive($"trojan-likelihood needs {detector.Descriptor.Name}, which was inconclusive: {outcome.Summary}");
                }

                inconclusive.Add(detector.Descriptor.Name);
            }

            findings[detector.Descriptor.Name] = outcome;
        }

        double[] features = model.Select(
            // An inconclusive detector's details are not read even if they carry a statistic (the fit's survey reads none).
            TrojanLikelihoodFeatures.All(findings.Where(f => !inconclusive.Contains(f.Key)).ToDictionary(f => f.Key, f => f.Value.Details, StringComparer.Ordinal)),
            inconclusive,
            out IReadOnlyList<string> imputed);
        return Assess(context, features, findings, imputed, check);
    }

    /// <summary>The finding for given detector features (separate so the arithmetic is testable without a model run).</summary>
    internal ProbeOutcome Assess(ProbeContext context, double[] features, IReadOnlyDictionary<string, ProbeOutcome> findings, IReadOnlyList<string>? imputed = null, TaskCheckResult? task = null)
    {
        imputed ??= [];
        TrojanLikelihoodModel model = _model!;
        double alpha = context.GetDouble("targetFalseFailRate");
        // A model of more than ten classes is thresholded against clean models of 43 classes where the fit records them:
        // its extreme-class statistics sit higher by chance alone, so the ten-class models' quantile would fail it more
        // often than the target rate (docs/probes.md, "A threshold calibrated on 43-class models").
        int classes = task?.Classes ?? 0;
        IReadOnlyList<double> calibrationClean = model.CalibrationCleanProbabilitiesFor(classes);
        bool manyClassCalibration = model.CalibratedOnManyClasses(classes);
        double conformal = model.ConformalThreshold(alpha, classes, out double guaranteed);
        // A profile's threshold is applied as given, even where it equals the descriptor's default (the ten-class
        // models' 5 % point): reading it as "unset" would move a many-class model to another threshold than asked for.
        double threshold = Math.Max(context.ThresholdFromProfile ? context.Threshold : conformal, 1e-6);
        double logit = model.Logit(features);
        double probability = model.Probability(features);
        double score = probability / threshold;
        bool flagged = score >= 1;
        // The class of the detector the verdict rests on most (a warp's target is the warp search's, not Neural Cleanse's).
        (int? named, string leading) = model.SuspectedClass(
            features,
            name => findings.TryGetValue(name, out ProbeOutcome? finding) && finding.Details["suspectedTargetClass"] is JsonValue value && value.TryGetValue(out int c) ? c : null);
        int suspected = named ?? throw new InvalidOperationException("Neural Cleanse's finding names no suspected class.");

        LikelihoodBin? bin = model.BinOf(probability);
        (double lower, double upper) = bin is null ? (0.0, 1.0) : TrojanLikelihoodModel.Wilson(bin.Backdoored, bin.Total);
        var featureDetails = new JsonObject();
        for (int i = 0; i < features.Length; i++)
        {
            featureDetails[model.Features[i]] = Math.Round(features[i], 4);
        }

        var detectors = new JsonObject();
        foreach ((string name, ProbeOutcome outcome) in findings)
        {
            var detector = new JsonObject
            {
                ["verdict"] = outcome.Verdict.ToString().ToLowerInvariant(),
                ["score"] = outcome.Score,
                ["statistic"] = outcome.Details["statistic"]?.DeepClone(),
            };
            if (outcome.Verdict == Verdict.Inconclusive)
            {
                detector["reason"] = outcome.Summary;
            }

            detectors[name] = detector;
        }

        var details = new JsonObject
        {
            ["statistic"] = probability,
            ["threshold"] = threshold,
            ["thresholdSource"] = context.ThresholdFromProfile ? "profile" : "conformal",
            ["suspectedTargetClass"] = suspected,
            ["suspectedClassFrom"] = leading,
            ["probability"] = probability,
            ["probabilityInterval"] = new JsonArray(Math.Round(lower, 4), Math.Round(upper, 4)),
            ["probabilityIntervalMethod"] = bin is null
                ? "none (no calibration bin)"
                : string.Create(CultureInfo.InvariantCulture, $"95% Wilson interval of the backdoored share among the {bin.Total} calibration models with probability in [{bin.Lower:F2}, {bin.Upper:F2})"),
            ["logit"] = logit,
            ["targetFalseFailRate"] = alpha,
            ["guaranteedFalseFailRate"] = guaranteed,
            ["minimumThreshold"] = model.MinimumThreshold,
            ["calibrationCleanModels"] = calibrationClean.Count,
            ["calibrationClasses"] = manyClassCalibration ? TintedCalibrationClasses : TrojanLikelihoodModel.FittedClasses,
            ["features"] = featureDetails,
            ["imputedFeatures"] = new JsonArray([.. imputed.Select(n => (JsonNode)n)]),
            ["imputation"] = "A feature of an optional detector that was inconclusive on this model takes the design split's mean (it moves p neither way), as in the fit.",
            ["detectors"] = detectors,
            ["modelGenerated"] = model.Generated,
            ["modelSha256"] = model.Fingerprint(),
            ["probabilityMeaning"] = "The share of backdoored models among the zoo's calibration models scored like this one (Platt-calibrated); valid for models like the zoo's, at the calibration split's share of backdoored models.",
        };
        // Stated either way, so a reader sees whether the evidence could show the model at work.
        details["taskCheck"] = (task ?? TaskCheckResult.NotTested(context.DatasetPath is null ? "the audit has no dataset" : "not made")).Details();
        if (model.Test is { } test)
        {
            details["testSplit"] = JsonSerializer.SerializeToNode(test, TrojanLikelihoodModel.JsonOptions);
            details["testMeasured"] = model.TestMeasured;
        }

        if (model.ManyClassTest is { } manyClass)
        {
            details["manyClassTestSplit"] = JsonSerializer.SerializeToNode(manyClass, TrojanLikelihoodModel.JsonOptions);
            details["manyClassTestMeasured"] = model.ManyClassTestMeasured;
        }

        if (model.UnfamiliarTest is { } unfamiliar)
        {
            details["unfamiliarTestSplit"] = JsonSerializer.SerializeToNode(unfamiliar, TrojanLikelihoodModel.JsonOptions);
            details["unfamiliarTestMeasured"] = model.UnfamiliarTestMeasured;
        }

        if (model.ForeignTest is { } foreign)
        {
            details["foreignTestSplit"] = JsonSerializer.SerializeToNode(foreign, TrojanLikelihoodModel.JsonOptions);
            details["foreignTestMeasured"] = model.ForeignTestMeasured;
        }

        if (model.ForeignSeenWhenChosen is { } seen && model.ForeignUnseenTest is { } unseen)
        {
            details["foreignSeenWhenChosen"] = seen;
            details["foreignUnseenTestSplit"] = JsonSerializer.SerializeToNode(unseen, TrojanLikelihoodModel.JsonOptions);
        }

        string measured = model.Test is { } t
            ? string.Create(CultureInfo.InvariantCulture, $" On the model zoo's held-out test split the {(manyClassCalibration ? $"ten-class default threshold ({model.ConformalThreshold(model.DefaultTargetFalseFailRate, out _):F2}{(context.ThresholdFromProfile ? "" : ", not this model's")})" : "default threshold")} failed {t.FalseFails} of {t.Clean} clean models and missed {t.Misses} of {t.Backdoored} backdoored ones.")
                + LikelihoodTestRates.InconclusiveClause(t.InconclusiveClean, t.InconclusiveBackdoored) + CaughtByAttack(t)
            : "";
        if (model.ManyClassTest is { } m)
        {
            measured += string.Create(CultureInfo.InvariantCulture,
                $" On {m.Clean + m.Backdoored} held-out 43-class colour models, unlike the ten-class ones it was fitted on, {(manyClassCalibration ? $"the default threshold for models of more than ten classes ({model.ConformalThreshold(model.DefaultTargetFalseFailRate, classes, out _):F2})" : "it")} failed {m.FalseFails} of {m.Clean} clean and missed {m.Misses} of {m.Backdoored} backdoored ones (AUROC {m.Auroc:0.00}).")
                + LikelihoodTestRates.InconclusiveClause(m.InconclusiveClean, m.InconclusiveBackdoored);
        }

        if (model.UnfamiliarTest is { } u)
        {
            measured += string.Create(CultureInfo.InvariantCulture,
                $" On {u.Clean + u.Backdoored} held-out models trained by recipes no fit has seen (many of them on architectures no fit has seen), it failed {u.FalseFails} of {u.Clean} clean and missed {u.Misses} of {u.Backdoored} backdoored ones (AUROC {u.Auroc:0.00}).")
                + LikelihoodTestRates.InconclusiveClause(u.InconclusiveClean, u.InconclusiveBackdoored);
        }

        if (model.ForeignTest is { } f)
        {
            measured += string.Create(CultureInfo.InvariantCulture,
                $" On {f.Clean + f.Backdoored} models trained outside the project (other code, architectures and triggers), it failed {f.FalseFails} of {f.Clean} clean and missed {f.Misses} of {f.Backdoored} backdoored ones (AUROC {f.Auroc:0.00}).");
            measured += TrojanLikelihoodModel.UnseenForeignSentence(model);
        }

        if (manyClassCalibration)
        {
            details["manyClassCalibrationMeasured"] = model.ManyClassCalibrationMeasured;
        }

        // Every rate above was counted on models of 10 or 43 classes; a model with another class count is told so.
        if (classes > 0)
        {
            details["classes"] = classes;
        }

        if (classes > 0 && classes != 10 && classes != 43)
        {
            measured += string.Create(
                CultureInfo.InvariantCulture,
                $" This model has {classes} classes; every rate above was counted on models of 10 or 43{(classes < 10 ? ", and fewer classes weaken the evidence (design models cut down to 3 or 5 classes were caught less often, and one clean model failed at 3: docs/probes.md, \"Fewer than ten classes\")" : "")}.");
        }

        // Unlabelled evidence runs no task check, so nothing stops a model that answers one class for nearly everything (a
        // collapse reads to every trigger search like a trigger of size zero for that class); the finding says what the
        // model answered, beside the class it suspects.
        if (task is { Test: null, PredictedCommonest: { } commonest })
        {
            measured += string.Create(CultureInfo.InvariantCulture, $" The evidence has no labels, so whether the model does its task was not tested; it answered class {commonest.Class} for {commonest.Share:P0} of it.");
        }

        // Every zoo model was audited with the same number of evidence inputs; with fewer the statistics are noisier
        // (benchmarks/evidence-size: on 24 design models 500 and 250 changed no verdict but raised clean p), so an
        // audit on less evidence than the rates were counted with says so.
        int inputs = task?.EvidenceInputs ?? 0;
        if (inputs > 0)
        {
            details["evidenceInputs"] = inputs;
        }

        if (inputs > 0 && inputs < RatesEvidenceInputs)
        {
            measured += string.Create(CultureInfo.InvariantCulture, $" The evidence has {inputs} inputs; every rate above was counted with {RatesEvidenceInputs:N0} (with 500 and 250, no verdict changed on 24 design models but clean p rose; below 250 the rates are unmeasured). Give {RatesEvidenceInputs:N0} where you can.");
        }

        int calibrationModels = model.CalibrationCleanProbabilities.Count + model.CalibrationBackdoored;
        string meaning = string.Create(
            CultureInfo.InvariantCulture,
            $" What the probability means: among the project's reference models (small image classifiers trained clean or backdoored from fixed seeds) that the detectors scored like this one, about this share carried a backdoor; it is calibrated on {calibrationModels} such models, {model.CalibrationBackdoored} of them backdoored, so it assumes the audited model resembles them and is backdoored about as often, and it says nothing certain about models unlike them.");
        string missing = imputed.Count == 0
            ? ""
            : $" Inconclusive on this model, so left at the design mean (no weight either way): {string.Join(", ", imputed.Select(TrojanLikelihoodModel.DetectorOf).Distinct())}.";
        string summary = string.Create(
            CultureInfo.InvariantCulture,
            $"Probability of a backdoor {probability:F2} (95% interval {lower:F2}–{upper:F2}) {(flagged ? "≥" : "<")} threshold {threshold:F2}{(context.ThresholdFromProfile ? "" : $", set so that at most {TrojanLikelihoodModel.Percent(guaranteed)} of clean models like the {calibrationClean.Count} {(manyClassCalibration ? $"{TintedCalibrationClasses}-class " : "")}calibration models fail{(model.MinimumThreshold > 0 ? $" and never below {model.MinimumThreshold:F2}" : "")}")}: {(flagged ? $"backdoor indicated, suspected target class {suspected}." : $"no backdoor indicated (most suspect class {suspected}).")}{missing}{measured}{meaning}");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, findings["neural-cleanse"].Evidence);
    }

    /// <summary>The class count of the zoo's many-class calibration models (its 43-class slice).</summary>
    internal const int TintedCalibrationClasses = 43;

    /// <summary>Evidence inputs each zoo model was audited with (the model zoo's <c>ZooTrainer.EvidenceCount</c>), so every stated rate holds at this size.</summary>
    internal const int RatesEvidenceInputs = 1000;

    /// <summary>
    /// The test split's catch rate per attack family, in one sentence: a pass says little about a family the scan
    /// rarely caught, and the overall miss rate alone would hide which one that is; then the all-to-one patch triggers
    /// by where they sat, since a patch over the object is caught far less often than one at the border.
    /// </summary>
    internal static string CaughtByAttack(LikelihoodTestRates rates) =>
        rates.ByAttack is not { Count: > 0 } attacks
            ? ""
            : " Backdoored test models caught, by attack: "
                + LikelihoodAttackRates.CaughtList(attacks)
                + (LikelihoodAttackRates.WeaklyCaught(attacks) is { Count: > 0 } weak
                    ? $"; a pass is weak evidence against {string.Join(" and ", weak)} backdoors, which it caught less than half the time."
                    : ".")
                + (rates.ByPlacement is { Count: > 0 } placements
                    ? " All-to-one patch triggers by where they sat: " + LikelihoodAttackRates.CaughtList(placements)
                        + (LikelihoodAttackRates.WeaklyCaught(placements) is { Count: > 0 } weakPlaces
                            ? $"; a pass is weak evidence against a {string.Join(" or a ", weakPlaces)}."
                            : ".")
                    : "");

    /// <summary>
    /// The part of this probe's progress that detector <paramref name="index"/> (of <paramref name="count"/>, in run
    /// order) reports into. The first, Neural Cleanse, runs the audit's trigger scan (the reference's distillation and
    /// every class's trigger search); the others read the finished scan or run short searches of their own. On the
    /// README's 10-class example the scan took 17–19 s of this probe's 19–21 s (docs/benchmarks.md, "The 10-class
    /// budget on the AMD EPYC"), so equal shares left the progress at a sixth of the probe for nearly all of it and the
    /// audit's estimate of the time left at 20× the truth.
    /// </summary>
    internal static (double From, double Width) ProgressShare(int index, int count)
    {
        const double Scan = 0.9;
        if (count <= 1)
        {
            return (0, 1);
        }

        double rest = (1 - Scan) / (count - 1);
        return index == 0 ? (0, Scan) : (Scan + ((index - 1) * rest), rest);
    }

    /// <summary>The context a detector of this probe runs in: its defaults, this probe's input range, the detector's default threshold.</summary>
    internal static ProbeContext Derive(ProbeContext context, ProbeDescriptor descriptor, IProgress<double> progress)
    {
        var shared = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        // Of the scan's parameters only inputBounds reaches here (the descriptor declares no other), so every detector
        // runs at the settings the fit's statistics were surveyed at.
        foreach (ProbeParameter parameter in TrojanProbeParameters.Scan)
        {
            if (context.Parameters.TryGetValue(parameter.Name, out JsonElement value))
            {
                shared[parameter.Name] = value;
            }
        }

        return new ProbeContext
        {
            ModelPath = context.ModelPath,
            DatasetPath = context.DatasetPath,
            Parameters = ProbeCatalog.WithDefaults(descriptor, shared),
            Threshold = descriptor.DefaultThreshold,
            Seed = context.Seed,
            Device = context.Device,
            Models = context.Models,
            Progress = progress,
            Evidence = context.Evidence,
            Session = context.Session,
            Inventory = context.Inventory,
            Timings = context.Timings,
        };
    }
}
