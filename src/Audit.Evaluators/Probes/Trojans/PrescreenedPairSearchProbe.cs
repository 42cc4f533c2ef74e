using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A source-specific (label-specific) trigger search on a few pre-screened (source, target) pairs, in the spirit of
/// K-Arm (Shen et al., "Backdoor Scanning for Deep Neural Networks through K-Arm Optimization", ICML 2021), who treat
/// each pair as an arm and spend search only on the promising ones. Pre-screen: for each source class, to first order,
/// how much of the logit gap from the source to a target the best nine pixels of a universal patch at the input bounds
/// can close (the mean input gradient over up to 32 of the source's inputs); the <c>prescreen</c> targets that close the
/// most are kept, at most <c>pairBudget</c> pairs in all. Each kept pair then gets one thorough mask-and-pattern search
/// on its source's inputs only (<see cref="PairTriggerSearch"/>, Neural Cleanse's objective, Wang et al., IEEE S&amp;P
/// 2019). Statistic: the median over the kept pairs of the log mask norm, less the smallest; suspected: the smallest
/// pair's target (and source).
/// </summary>
/// <remarks>
/// Why: an all-to-one search misses a trigger that only moves one source class, and the full (source, target) scan
/// (<see cref="LabelSpecificScanProbe"/>) costs K(K − 1) searches. On the model zoo's design split the implanted pair was
/// the cheapest of the 30 kept in most scannable source-specific models (benchmarks/model-zoo-pair-prescreen,
/// benchmarks/model-zoo-pair-clamp; docs/probes.md, "prescreened-pair-search"). Assumes an image classifier whose classes
/// each get at least eight of the clean inputs. Limits: a clean model's natural pairs (sneaker → bag) are often as cheap,
/// so the statistic alone separates weakly; it is meant as one of the meta-classifier's readings. The search has no
/// yardstick beyond the model's own pairs. Deterministic for a fixed seed: seeded draws and starts, one intra-op thread.
/// </remarks>
public sealed class PrescreenedPairSearchProbe : IProbe, IAuditedModelDetector
{
    /// <summary>Smallest mask norm read, so an empty mask has a finite log.</summary>
    private const double NormFloor = 1e-3;

    /// <summary>Inputs of a source the pre-screen's mean gradient is taken over (a universal patch's first-order gain).</summary>
    private const int PrescreenInputs = 32;

    /// <summary>Pixels of the first-order patch: a 3 × 3 patch's worth, the smallest trigger the zoo's catalog or the
    /// literature's BadNets examples use; the order of pairs, not a cut, is read from it.</summary>
    private const int PrescreenPixels = 9;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "prescreened-pair-search",
        "Source-specific trigger search over pre-screened (source, target) pairs",
        "Shen et al., Backdoor Scanning for Deep Neural Networks through K-Arm Optimization, ICML 2021; Wang et al., Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks, IEEE S&P 2019",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 1.9,
        ThresholdMeaning: "Median over the pre-screened (source, target) pairs of the log mask norm less the smallest (1.9: the clean design models' split-conformal 95 % point, 1.82, rounded up to a tenth; the cheapest pair's trigger is then e^1.9 ≈ 6.7 times smaller than the median pair's); flagged when ≥ threshold.",
        [
            new ProbeParameter("prescreen", ProbeParameterType.Integer, "Targets kept per source class by the first-order pre-screen.", ProbeParameters.Json(3), 1, 1000),
            new ProbeParameter("pairBudget", ProbeParameterType.Integer, "Most pairs searched in all; with more sources than that allows, the pairs the pre-screen ranks highest across sources.", ProbeParameters.Json(30), 3, 100_000),
            new ProbeParameter("steps", ProbeParameterType.Integer, "Adam steps of each pair's search.", ProbeParameters.Json(160), 10, 5000),
            new ProbeParameter("samplesPerPair", ProbeParameterType.Integer, "Source inputs per pair and step.", ProbeParameters.Json(8), 2, 256),
            new ProbeParameter("minimumSourceInputs", ProbeParameterType.Integer, "Fewest clean inputs the model assigns to a class for it to be a source.", ProbeParameters.Json(8), 2, 10000),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => RunShared(context, cancellationToken), cancellationToken);

    /// <inheritdoc />
    ProbeOutcome ISharedTrojanDetector.RunHere(ProbeContext context, CancellationToken cancellationToken) => RunShared(context, cancellationToken);

    // Once per audit and parameters: trojan-likelihood may have had it computed already, in the trigger scan's wait.
    private ProbeOutcome RunShared(ProbeContext context, CancellationToken cancellationToken) =>
        SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        if (evidence.Inputs.dim() != 4)
        {
            return ProbeOutcome.Inconclusive("The pre-screened pair search needs an image classifier (inputs [N, C, H, W]).");
        }

        // The scans' fixed thread count (IntraOpThreads): the same numbers whatever thread count the audit runs with.
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        int classes = evidence.Classes;
        int minimum = parameters.Int("minimumSourceInputs");
        // A source is a class the model gives enough clean inputs to: a trigger is tested on what the model does with them.
        long[][] sources = PairTriggerSearch.Sources(PairTriggerSearch.PredictedClasses(evidence, cancellationToken), classes, minimum);
        var clock = Stopwatch.StartNew();
        double[][] gain = FirstOrderGain(evidence, sources, cancellationToken);
        (int Source, int Target)[] pairs = Prescreen(gain, sources, parameters.Int("prescreen"), parameters.Int("pairBudget"));
        if (pairs.Length < 3)
        {
            return ProbeOutcome.Inconclusive(string.Create(
                CultureInfo.InvariantCulture,
                $"Fewer than three (source, target) pairs to compare: the model gives {minimum} or more clean inputs to {sources.Count(s => s.Length > 0)} of its {classes} classes."));
        }

        double prescreenSeconds = clock.Elapsed.TotalSeconds;
        int steps = parameters.Int("steps");
        int samples = parameters.Int("samplesPerPair");
        // One thorough pass (no refinement): every kept pair is searched alike and every pair is the statistic's yardstick.
        var settings = new PairSearchSettings(
            ScreeningSteps: steps,
            RefineSteps: 0,
            ScreeningSamples: samples,
            RefineSamples: samples,
            CheckEvery: 10,
            EvaluationInputs: 32,
            AttackThreshold: 0.9,
            Seed: unchecked(context.Seed * 7 + 1301),
            ChunkElements: 1L << 20);
        double[] norms;
        bool[] reached;
        double[] attack;
        using (var search = new PairTriggerSearch(evidence, sources, pairs, settings))
        {
            search.Screen(context.Progress, cancellationToken);
            norms = search.Norms();
            reached = search.Reached();
            attack = search.AttackRates();
        }

        double[] logNorms = [.. norms.Select(n => Math.Log(Math.Max(n, NormFloor)))];
        double smallest = logNorms.Min();
        int cheapest = Array.IndexOf(logNorms, smallest);
        double statistic = SampleStatistics.Median(logNorms) - smallest;
        bool flagged = statistic >= context.Threshold;
        (int source, int target) = pairs[cheapest];
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = target,
            ["suspectedSourceClass"] = source,
            ["pairs"] = new JsonArray([.. pairs.Select(p => (JsonNode)new JsonArray(p.Source, p.Target))]),
            ["maskNorms"] = new JsonArray([.. norms.Select(v => (JsonNode)Math.Round(v, 3))]),
            ["reached"] = new JsonArray([.. reached.Select(v => (JsonNode)v)]),
            ["attackSuccess"] = new JsonArray([.. attack.Select(v => (JsonNode)Math.Round(v, 3))]),
            ["sourceInputs"] = new JsonArray([.. sources.Select(s => (JsonNode)s.Length)]),
            ["prescreenSeconds"] = Math.Round(prescreenSeconds, 2),
            ["searchSeconds"] = Math.Round(clock.Elapsed.TotalSeconds - prescreenSeconds, 2),
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
        };
        double ratio = Math.Exp(statistic);
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"A patch that sends class {source}'s inputs to class {target} covers {norms[cheapest]:0.#} pixels, {ratio:0.0} times less than the median of the {pairs.Length} pre-screened pairs' (log gap {statistic:F2} ≥ {context.Threshold:F2}): one source reaches one target far more cheaply than the model's other pairs, the shape of a source-specific trigger ({TrojanProbeParameters.Where(evidence)}).")
            : string.Create(CultureInfo.InvariantCulture, $"No pre-screened (source, target) pair is reached by a patch much smaller than the median pair's (cheapest: {source} → {target}, {ratio:0.0} times less, log gap {statistic:F2} < {context.Threshold:F2}; {pairs.Length} pairs; {TrojanProbeParameters.Where(evidence)}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, statistic / context.Threshold, summary, details, []);
    }

    /// <summary>
    /// Per (source, target), to first order, the most the best <see cref="PrescreenPixels"/> pixels of a universal patch
    /// at the input bounds add to the logit gap from source to target, over the mean margin: the mean input gradient of
    /// logit_t − logit_s over up to <see cref="PrescreenInputs"/> of the source's inputs, per pixel |g| summed over
    /// channels times the bounds' span. Larger: cheaper to first order. Negative infinity on the diagonal and for
    /// sources without inputs.
    /// </summary>
    internal static double[][] FirstOrderGain(ClassifierEvidence evidence, long[][] sources, CancellationToken cancellationToken)
    {
        int classes = evidence.Classes;
        float span = evidence.High - evidence.Low;
        var result = new double[classes][];
        for (int s = 0; s < classes; s++)
        {
            result[s] = Enumerable.Repeat(double.NegativeInfinity, classes).ToArray();
            if (sources[s].Length == 0)
            {
                continue;
            }

            using var scope = torch.NewDisposeScope();
            Tensor inputs = evidence.Inputs.index_select(0, torch.tensor(sources[s].Take(PrescreenInputs).ToArray()).to(evidence.Device));
            for (int t = 0; t < classes; t++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (t == s)
                {
                    continue;
                }

                using var inner = torch.NewDisposeScope();
                Tensor x = inputs.detach().clone().requires_grad_(true);
                Tensor logits = evidence.Model.Forward(x).flatten(1);
                Tensor gap = logits.select(1, t).sub(logits.select(1, s));
                gap.sum().backward();
                using var noGrad = torch.no_grad();
                double margin = gap.neg().mean().item<float>();
                Tensor perPixel = x.grad!.mean([0L]).abs().sum([0L]).flatten().Mul(span);
                double top = perPixel.topk(Math.Min(PrescreenPixels, (int)perPixel.shape[0])).values.sum().item<float>();
                // A margin at or below zero (the model already leans to the target) is as cheap as a pair gets.
                result[s][t] = top / Math.Max(margin, 1e-6);
            }
        }

        return result;
    }

    /// <summary>
    /// The pairs searched, in (source, target) order: per source with inputs, the <paramref name="perSource"/> targets of
    /// largest gain (ties to the lower class), then, when more than <paramref name="budget"/>, the budget's worth of them
    /// with the largest gain across sources, so the search's cost stays bounded however many classes the model has.
    /// </summary>
    internal static (int Source, int Target)[] Prescreen(double[][] gain, long[][] sources, int perSource, int budget)
    {
        int classes = gain.Length;
        (int Source, int Target)[] kept = [.. Enumerable.Range(0, classes).Where(s => sources[s].Length > 0).SelectMany(s => Enumerable.Range(0, classes).Where(t => t != s)
            .OrderByDescending(t => gain[s][t]).ThenBy(t => t).Take(perSource).OrderBy(t => t).Select(t => (s, t)))];
        return kept.Length <= budget
            ? kept
            : [.. kept.OrderByDescending(p => gain[p.Source][p.Target]).ThenBy(p => p.Source).ThenBy(p => p.Target).Take(budget)
                .OrderBy(p => p.Source).ThenBy(p => p.Target)];
    }
}
