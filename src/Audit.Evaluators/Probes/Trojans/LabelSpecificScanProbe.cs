using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Source-specific (label-specific) backdoor scan: reverse-engineers, for every ordered pair (s, t) of classes, the
/// smallest trigger that sends inputs of class s — and only those — to t, on the audited model and on a shadow of it
/// (the same ONNX graph with fresh weights, trained on the clean inputs with the model's hard labels;
/// <see cref="ShadowModel"/>), and flags the model when one pair's trigger is anomalously small relative to the same
/// pair on the shadow. K-Arm (Shen et al., "Backdoor Scanning for Deep Neural Networks through K-Arm Optimization",
/// ICML 2021) treats label-specific backdoors as (source, target) arms; Neural Cleanse (Wang et al., IEEE S&amp;P 2019,
/// §VI) discusses the source-specific case, which its all-to-one search misses: a trigger that flips one class only
/// never has to work on the others. Shadow models trained on the defender's clean data are MNTD's (Xu et al., IEEE
/// S&amp;P 2021) and ULP's (Kolouri et al., CVPR 2020) yardstick.
/// </summary>
/// <remarks>
/// Independent of Neural Cleanse's candidate: it runs its own search on its own pairs and reads nothing of the
/// all-to-one scan. Why a shadow: which pairs are naturally close (shirt → T-shirt) depends on the data and the
/// architecture, so a pair that is cheap on the audited model is cheap on a shadow of the same architecture too, while
/// an implant is what clean inputs never exercise, so the shadow cannot learn it. A reference distilled from the
/// model's soft scores inherited part of an implant, and a generic architecture's natural pairs are not the audited
/// one's (both measured on the model zoo's design split; docs/probes.md). By default one thorough pass gives every pair
/// the same steps on both models (a first pass that chose pairs to refine missed implanted pairs); the statistic is
/// the MAD anomaly index of the smallest row-centred log ratio log(|m|/|m_shadow|) among pairs whose trigger works on
/// the audited model. Assumes the clean dataset holds enough inputs of each source class (the model's own predictions
/// define the source) and that the graph's weights are Conv, ConvTranspose, Gemm or MatMul initializers (otherwise the
/// probe is inconclusive). Cost grows with K(K − 1): at ten classes two searches of 90 pairs. Threshold and measured
/// rates: docs/probes.md, "label-specific-scan". Score = anomaly index / threshold.
/// </remarks>
public sealed class LabelSpecificScanProbe : IProbe
{
    // The shadow's training: Adam at batch 64 and 3e-3, the recipe the model zoo trains its models with (the
    // experiment that chose the shadow trained it so; docs/probes.md).
    private const int ShadowBatch = 64;
    private const double ShadowLearningRate = 3e-3;

    /// <summary>
    /// The work of one thorough pass at ten classes (90 pairs × 160 steps × 8 inputs), the size the model zoo measures
    /// the scan's error rates at: a model with more classes gets the same work, spent on a screen and a refinement,
    /// instead of a cost growing with K(K − 1) (43 classes are 1,806 pairs, 20 times as many).
    /// </summary>
    internal const int DefaultPairBudget = 90 * 160 * 8;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "label-specific-scan",
        "Source-specific trigger scan over (source, target) class pairs (K-Arm style)",
        "Shen et al., Backdoor Scanning for Deep Neural Networks through K-Arm Optimization, ICML 2021; Wang et al., Neural Cleanse, IEEE S&P 2019 (§VI, source-specific backdoors); Xu et al., Detecting AI Trojans Using Meta Neural Analysis, IEEE S&P 2021 (shadow models)",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 6.0,
        ThresholdMeaning: "MAD anomaly index of the smallest (source, target) trigger's log norm ratio to a shadow of the same architecture trained on the clean inputs, row-centred, over all K(K−1) pairs; flagged when ≥ threshold.",
        [
            new ProbeParameter("screeningSteps", ProbeParameterType.Integer, "Steps of the first pass every (source, target) pair gets, on the audited model and on its shadow.", ProbeParameters.Json(160), 10, 5000),
            new ProbeParameter("refineSteps", ProbeParameterType.Integer, "Further steps of the most promising pairs and the index's yardstick (0: no second pass; every pair counts).", ProbeParameters.Json(0), 0, 5000),
            new ProbeParameter("samplesPerPair", ProbeParameterType.Integer, "Source inputs per pair and step.", ProbeParameters.Json(8), 2, 256),
            new ProbeParameter("minimumSourceInputs", ProbeParameterType.Integer, "Fewest clean inputs the model assigns to a class for it to be scanned as a source.", ProbeParameters.Json(8), 2, 10000),
            new ProbeParameter("noiseFloor", ProbeParameterType.Number, "Smallest spread (standard deviation of the pairs' log norm ratios) the index divides by.", ProbeParameters.Json(0.25), 0, 5),
            new ProbeParameter("pairBudget", ProbeParameterType.Integer, "Most pair-input-steps (pairs × steps × inputs per pair) of one thorough pass per model; with more classes than that allows, every pair is screened briefly and the most promising refined to the full steps (0: no limit).", ProbeParameters.Json(DefaultPairBudget), 0, 100_000_000),
            new ProbeParameter("shadowEpochs", ProbeParameterType.Integer, "Passes over the clean inputs when training the shadow (the audited architecture, re-initialised).", ProbeParameters.Json(20), 1, 500),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        int hostThreads = torch.get_num_threads();
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, hostThreads);
        int classes = evidence.Classes;
        int minimum = parameters.Int("minimumSourceInputs");

        // The source of an input is the class the model gives it: labels are optional, and a trigger is tested on what
        // the model does with the source's inputs.
        long[] predicted = PairTriggerSearch.PredictedClasses(evidence, cancellationToken);
        long[][] sources = PairTriggerSearch.Sources(predicted, classes, minimum);
        (int Source, int Target)[] pairs = [.. Enumerable.Range(0, classes).Where(s => sources[s].Length > 0)
            .SelectMany(s => Enumerable.Range(0, classes).Where(t => t != s).Select(t => (s, t)))];
        int[] skipped = [.. Enumerable.Range(0, classes).Where(s => sources[s].Length == 0)];
        int[] assigned = [.. Enumerable.Range(0, classes).Select(k => predicted.Count(p => p == k))];
        if (classes - skipped.Length < 3)
        {
            return ProbeOutcome.Inconclusive(string.Create(
                CultureInfo.InvariantCulture,
                $"Fewer than three classes have {minimum} or more clean inputs the model assigns to them (per class: {string.Join(", ", assigned)}); the pairs' anomaly index needs several sources."));
        }

        (int screeningSteps, int refineSteps, int screeningSamples, int samples) = Schedule(
            pairs.Length, parameters.Int("screeningSteps"), parameters.Int("refineSteps"), parameters.Int("samplesPerPair"), parameters.Int("pairBudget"));
        var settings = new PairSearchSettings(
            ScreeningSteps: screeningSteps,
            RefineSteps: refineSteps,
            ScreeningSamples: screeningSamples,
            RefineSamples: samples,
            CheckEvery: 10,
            EvaluationInputs: 24,
            AttackThreshold: 0.9,
            Seed: unchecked(context.Seed * 7 + 1301),
            ChunkElements: 1L << 20);

        // The shadow learns the audited model's hard labels on the clean inputs: what the model does with inputs that
        // carry no trigger, without the soft scores a distilled copy would inherit part of an implant through.
        int epochs = parameters.Int("shadowEpochs");
        var shadowSettings = new ShadowSettings(
            Steps: (int)Math.Min(1_000_000L, (long)epochs * ((evidence.Count + ShadowBatch - 1) / ShadowBatch)),
            BatchSize: ShadowBatch,
            LearningRate: ShadowLearningRate,
            Seed: unchecked(context.Seed * 11 + 4099));
        ShadowModel? shadow;
        using (var scope = torch.NewDisposeScope())
        {
            Tensor labels = torch.tensor(predicted).to(evidence.Device);
            shadow = ShadowModel.TryTrain(evidence.Model, evidence.Inputs, labels, shadowSettings, cancellationToken);
        }

        if (shadow is null)
        {
            return ProbeOutcome.Inconclusive("The model is not an imported ONNX graph whose weights (Conv, Gemm, MatMul) can be re-initialised, so it has no shadow to compare pairs with.");
        }

        using ShadowModel ownedShadow = shadow;
        PairScan scan = Search(evidence, shadow, sources, pairs, settings, hostThreads, context.Progress, cancellationToken);
        using (scan.Audited)
        using (scan.Reference)
        {
            return Assess(context, parameters, evidence, pairs, new SourceCoverage(skipped, assigned, minimum), sources, scan, settings);
        }
    }

    /// <summary>
    /// Both searches, in two one-thread lanes (the audited model's; the shadow's): the first pass on both, then, when
    /// <see cref="PairSearchSettings.RefineSteps"/> is above 0, refinement of the pairs the first pass chose on both.
    /// </summary>
    private static PairScan Search(
        ClassifierEvidence evidence,
        ShadowModel shadow,
        IReadOnlyList<long[]> sources,
        (int Source, int Target)[] pairs,
        PairSearchSettings settings,
        int hostThreads,
        IProgress<double> progress,
        CancellationToken cancellationToken)
    {
        var audited = new PairTriggerSearch(evidence, sources, pairs, settings);
        PairTriggerSearch? reference = null;
        try
        {
            reference = new PairTriggerSearch(evidence.WithModel(shadow, "pairs-shadow"), sources, pairs, settings);
            PairTriggerSearch there = reference;
            Lanes.Both(
                TrojanProbeParameters.ScanThreads,
                hostThreads,
                () => audited.Screen(new Progress<double>(p => progress.Report(0.3 * p)), cancellationToken),
                () => there.Screen(null, cancellationToken),
                cancellationToken);
            if (settings.RefineSteps == 0)
            {
                // One thorough pass: every pair is compared, and every pair is the index's yardstick.
                int[] all = [.. Enumerable.Range(0, pairs.Length)];
                return new PairScan(audited, there, shadow.TrainingAgreement, all, all, [.. all.Select(_ => true)]);
            }

            // The first pass's ratios choose the pairs to refine: the ⌈√P⌉ lowest (at least 3) and, beyond 16 pairs, 16 at
            // evenly spaced ranks of the whole order as the index's yardstick (the all-to-one scan's rule, TriggerScan.Select).
            (int[] refined, int[] candidates, bool[] basis) = TriggerScan.Select(RowCentred(LogRatios(audited.Norms(), there.Norms()), pairs));
            var candidateSet = candidates.ToHashSet();
            Lanes.Both(
                TrojanProbeParameters.ScanThreads,
                hostThreads,
                () => audited.Refine(refined, candidateSet, new Progress<double>(p => progress.Report(0.3 + 0.7 * p)), cancellationToken),
                () => there.Refine(refined, candidateSet, null, cancellationToken),
                cancellationToken);
            return new PairScan(audited, there, shadow.TrainingAgreement, refined, candidates, basis);
        }
        catch
        {
            audited.Dispose();
            reference?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The passes for <paramref name="pairs"/> pairs: one thorough pass (every pair <paramref name="steps"/> steps on
    /// <paramref name="samples"/> inputs) while it fits <paramref name="budget"/>; then the same pass on fewer inputs
    /// (at least two) while those fit; beyond that, half the budget screens every pair on two inputs for a multiple of
    /// ten steps (at least ten) and the pairs the screen chooses are refined up to <paramref name="steps"/> in all. An
    /// explicit <paramref name="refineSteps"/> above 0 keeps the two-pass schedule as given (half the inputs in the
    /// first pass).
    /// </summary>
    internal static (int ScreeningSteps, int RefineSteps, int ScreeningSamples, int RefineSamples) Schedule(int pairs, int steps, int refineSteps, int samples, int budget)
    {
        if (refineSteps > 0)
        {
            return (steps, refineSteps, Math.Max(1, samples / 2), samples);
        }

        if (budget == 0 || (long)pairs * steps * samples <= budget)
        {
            return (steps, 0, samples, samples);
        }

        const int screeningSamples = 2;
        if ((long)pairs * steps * screeningSamples <= budget)
        {
            int fewer = (int)(budget / ((long)pairs * steps));
            return (steps, 0, fewer, fewer);
        }

        int screening = (int)Math.Clamp(budget / 2L / ((long)pairs * screeningSamples) / 10 * 10, 10, steps);
        return (screening, Math.Max(0, steps - screening), screeningSamples, samples);
    }

    private static double[] LogRatios(double[] audited, double[] reference) =>
        [.. audited.Select((n, i) => Math.Log(Math.Max(n, 1e-6) / Math.Max(reference[i], 1e-6)))];

    /// <summary>
    /// Each pair's log ratio minus the median log ratio of its source's pairs: a source the audited model flips cheaply
    /// to every class (a fragile class, more than the reference's) is not a backdoor, and a source-specific implant is
    /// one cheap target among the source's K − 1. An all-to-one backdoor stays visible (one cheap target in every row).
    /// </summary>
    internal static double[] RowCentred(IReadOnlyList<double> ratios, IReadOnlyList<(int Source, int Target)> pairs)
    {
        var medians = pairs.Select((p, i) => (p.Source, Ratio: ratios[i])).GroupBy(x => x.Source)
            .ToDictionary(g => g.Key, g => SampleStatistics.Median([.. g.Select(x => x.Ratio)]));
        return [.. pairs.Select((p, i) => ratios[i] - medians[p.Source])];
    }

    private static ProbeOutcome Assess(
        ProbeContext context,
        ProbeParameters parameters,
        ClassifierEvidence evidence,
        (int Source, int Target)[] pairs,
        SourceCoverage coverage,
        long[][] sources,
        PairScan scan,
        PairSearchSettings settings)
    {
        PairTriggerSearch audited = scan.Audited, reference = scan.Reference;
        double[] norms = audited.Norms(), referenceNorms = reference.Norms();
        double[] rawRatios = LogRatios(norms, referenceNorms);
        double[] ratios = RowCentred(rawRatios, pairs);
        bool[] reached = audited.Reached();
        int[] steps = audited.RowSteps();

        // Only refined pairs are compared: the others keep their first-pass norms, upper bounds neither in the median and
        // MAD nor eligible as the suspected pair.
        bool[] refined = new bool[pairs.Length];
        foreach (int i in scan.Refined)
        {
            refined[i] = true;
        }

        bool[] inBasis = scan.Basis;
        (double[] indices, double median, double mad) = TriggerScan.MadAnomaly(ratios, parameters.Double("noiseFloor"), inBasis);
        int[] eligible = [.. Enumerable.Range(0, pairs.Length).Where(i => refined[i] && reached[i])];
        int suspected = eligible.Length == 0 ? Enumerable.Range(0, pairs.Length).MinBy(i => ratios[i]) : eligible.MinBy(i => ratios[i]);
        double statistic = eligible.Length == 0 ? 0 : indices[suspected];
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        (int source, int target) = pairs[suspected];

        int[] lowest = [.. Enumerable.Range(0, pairs.Length).Where(i => refined[i]).OrderBy(i => ratios[i]).Take(5)];
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["anomalyIndex"] = statistic,
            ["suspectedSourceClass"] = source,
            ["suspectedTargetClass"] = target,
            ["maskNorm"] = Math.Round(norms[suspected], 3),
            ["shadowMaskNorm"] = Math.Round(referenceNorms[suspected], 3),
            ["logNormRatio"] = Math.Round(rawRatios[suspected], 4),
            ["centredLogNormRatio"] = Math.Round(ratios[suspected], 4),
            ["attackSuccess"] = Math.Round(audited.AttackRates()[suspected], 4),
            ["shadowAttackSuccess"] = Math.Round(reference.AttackRates()[suspected], 4),
            ["medianCentredLogNormRatio"] = median,
            ["medianAbsoluteDeviationCentredLogNormRatio"] = mad,
            ["noiseFloor"] = parameters.Double("noiseFloor"),
            ["lowestPairs"] = new JsonArray([.. lowest.Select(i => (JsonNode)new JsonObject
            {
                ["source"] = pairs[i].Source,
                ["target"] = pairs[i].Target,
                ["maskNorm"] = Math.Round(norms[i], 3),
                ["shadowMaskNorm"] = Math.Round(referenceNorms[i], 3),
                ["logNormRatio"] = Math.Round(rawRatios[i], 4),
                ["centredLogNormRatio"] = Math.Round(ratios[i], 4),
                ["anomalyIndex"] = Math.Round(indices[i], 4),
                ["reached"] = reached[i],
            })]),
            ["pairs"] = pairs.Length,
            ["pairSources"] = new JsonArray([.. pairs.Select(p => (JsonNode)p.Source)]),
            ["pairTargets"] = new JsonArray([.. pairs.Select(p => (JsonNode)p.Target)]),
            ["maskNorms"] = new JsonArray([.. norms.Select(n => (JsonNode)Math.Round(n, 3))]),
            ["shadowMaskNorms"] = new JsonArray([.. referenceNorms.Select(n => (JsonNode)Math.Round(n, 3))]),
            ["refined"] = new JsonArray([.. refined.Select(r => (JsonNode)r)]),
            ["reachedAttackThreshold"] = new JsonArray([.. reached.Select(r => (JsonNode)r)]),
            ["refinedPairs"] = refined.Count(r => r),
            ["candidatePairs"] = scan.Candidates.Length,
            ["indexBasisPairs"] = inBasis.Count(b => b),
            ["steps"] = audited.Steps,
            ["schedule"] = new JsonObject
            {
                ["passes"] = settings.RefineSteps == 0 ? "one thorough pass" : "screen, then refine the chosen pairs",
                ["screeningSteps"] = settings.ScreeningSteps,
                ["screeningInputsPerPair"] = settings.ScreeningSamples,
                ["refineSteps"] = settings.RefineSteps,
                ["refineInputsPerPair"] = settings.RefineSamples,
                ["pairBudget"] = parameters.Int("pairBudget"),
            },
            ["stepsOfSuspectedPair"] = steps[suspected],
            ["sourceInputs"] = new JsonArray([.. sources.Select(s => (JsonNode)s.Length)]),
            ["skippedSources"] = new JsonArray([.. coverage.Skipped.Select(s => (JsonNode)s)]),
            ["assignedInputs"] = new JsonArray([.. coverage.Assigned.Select(n => (JsonNode)n)]),
            ["minimumSourceInputs"] = coverage.Minimum,
            ["shadowAgreement"] = scan.Agreement,
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
            ["inputBounds"] = new JsonArray(evidence.Low, evidence.High),
            ["samples"] = evidence.Count,
            ["device"] = evidence.Model.Device.Name,
        };

        string relative = string.Create(
            CultureInfo.InvariantCulture,
            $"class {source} → {target}: mask L1 {norms[suspected]:F1}, {Math.Exp(median - ratios[suspected]):F1}× smaller than typical for its source relative to a shadow of the same architecture trained on the clean inputs (shadow {referenceNorms[suspected]:F1})");
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"A source-specific trigger is abnormally small ({relative}; anomaly index {statistic:F2} ≥ {context.Threshold}): inputs of class {source} likely carry a backdoor to class {target}.{coverage.Unscanned()}")
            : string.Create(CultureInfo.InvariantCulture, $"No (source, target) pair has an abnormally small trigger (largest anomaly index {statistic:F2} < {context.Threshold}, {relative}; {pairs.Length} pairs, {TrojanProbeParameters.Where(evidence)}).{coverage.Unscanned()}");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, Images(audited, suspected, source, target, evidence));
    }

    private static IReadOnlyList<EvidenceFile> Images(PairTriggerSearch search, int row, int source, int target, ClassifierEvidence evidence)
    {
        (float[] mask, float[] pattern, long[] _, long[] shape) = search.Trigger(row);
        if (shape.Length != 3 || shape[0] is not (1 or 3) || shape[1] > 4096 || shape[2] > 4096)
        {
            return [];
        }

        int channels = (int)shape[0], height = (int)shape[1], width = (int)shape[2];
        float[] stamped = new float[pattern.Length];
        for (int c = 0; c < channels; c++)
        {
            for (int i = 0; i < height * width; i++)
            {
                // PNG wants interleaved channels; the tensors are channel-first.
                stamped[i * channels + c] = evidence.Low + mask[i] * (pattern[c * height * width + i] - evidence.Low);
            }
        }

        return
        [
            new EvidenceFile($"pair-trigger-mask-{source}-to-{target}.png", "image/png", $"Recovered source-specific trigger mask, class {source} → {target} (white = stamped).",
                EvidencePng.Encode(EvidencePng.ToBytes(mask, 0, 1), width, height, 1)),
            new EvidenceFile($"pair-trigger-{source}-to-{target}.png", "image/png", $"Mask ⊙ pattern of the recovered class {source} → {target} trigger.",
                EvidencePng.Encode(EvidencePng.ToBytes(stamped, evidence.Low, evidence.High), width, height, channels)),
        ];
    }

    /// <summary>
    /// Which classes were scanned as sources. A class the model assigns fewer than <see cref="Minimum"/> clean inputs to
    /// has no inputs to carry a trigger and is skipped: a backdoor from it is not looked for, and the summary says so,
    /// since a pass over the other pairs says nothing about it.
    /// </summary>
    private sealed record SourceCoverage(int[] Skipped, int[] Assigned, int Minimum)
    {
        /// <summary>Empty when every class was scanned; else a sentence naming the skipped classes and their counts.</summary>
        public string Unscanned()
        {
            if (Skipped.Length == 0)
            {
                return "";
            }

            string classes = string.Join(", ", Skipped.Select((k, i) => string.Create(CultureInfo.InvariantCulture, $"{k} ({Assigned[k]}{(i == 0 ? " inputs" : "")})")));
            bool several = Skipped.Length > 1;
            return string.Create(
                CultureInfo.InvariantCulture,
                $" Class{(several ? "es" : "")} {classes} {(several ? "were" : "was")} not scanned as {(several ? "sources" : "a source")}: the model assigns {(several ? "each" : "it")} fewer than {Minimum} of the {Assigned.Sum()} clean inputs (minimumSourceInputs), so a source-specific backdoor from {(several ? "them" : "it")} is not looked for.");
        }
    }

    /// <summary>Both searches and the pairs the first pass chose: refined, candidates, and the index's basis.</summary>
    private sealed record PairScan(PairTriggerSearch Audited, PairTriggerSearch Reference, double Agreement, int[] Refined, int[] Candidates, bool[] Basis);
}
