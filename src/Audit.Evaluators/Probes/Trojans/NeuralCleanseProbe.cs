using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Trigger reverse-engineering: Neural Cleanse (Wang et al., IEEE S&amp;P 2019). Recovers, for every class, the
/// smallest mask and pattern that send clean inputs to it, and flags the model when one class's mask norm is a
/// low outlier by the median-absolute-deviation anomaly index (the paper's threshold: 2).
/// </summary>
/// <remarks>
/// Assumes the backdoor is all-to-one with a trigger that covers a small part of the input (patch-like). Blended,
/// input-wide or input-specific triggers, and models with very few classes (the MAD needs several "normal" norms),
/// are known failure modes. Score = anomaly index / threshold; ≥ 1 is flagged.
/// </remarks>
public sealed class NeuralCleanseProbe : IProbe
{
    /// <summary>Consistency constant that makes the MAD estimate the standard deviation of a normal distribution.</summary>
    private const double NormalConsistency = 1.4826;

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "neural-cleanse",
        "Trigger reverse-engineering (Neural Cleanse)",
        "Wang et al., Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks, IEEE S&P 2019",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 2.0,
        ThresholdMeaning: "MAD anomaly index of the smallest class's trigger mask L1 norm; flagged when ≥ threshold.",
        [TrojanProbeParameters.MaxSteps, TrojanProbeParameters.SamplesPerClass, TrojanProbeParameters.InputBounds]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        ReverseEngineeredTriggers triggers = TriggerReverseEngineering.Run(
            evidence, TrojanProbeParameters.ReverseEngineering(parameters, context.Seed), context.Progress, cancellationToken);

        (double[] anomaly, double median, double mad) = AnomalyIndices(triggers.MaskNorms);
        int suspected = triggers.SmallestClass;
        double statistic = anomaly[suspected];
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;

        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["anomalyIndex"] = statistic,
            ["maskNorms"] = new JsonArray(triggers.MaskNorms.Select(n => (JsonNode)Math.Round(n, 3)).ToArray()),
            ["anomalyIndices"] = new JsonArray(anomaly.Select(a => (JsonNode)Math.Round(a, 3)).ToArray()),
            ["attackSuccess"] = new JsonArray(triggers.AttackSuccess.Select(a => (JsonNode)Math.Round(a, 3)).ToArray()),
            ["reachedAttackThreshold"] = new JsonArray(triggers.Reached.Select(r => (JsonNode)r).ToArray()),
            ["medianNorm"] = median,
            ["medianAbsoluteDeviation"] = mad,
            ["steps"] = triggers.Steps,
            ["inputBounds"] = new JsonArray(triggers.Low, triggers.High),
            ["samples"] = evidence.Count,
            ["device"] = evidence.Model.Device.Name,
        };

        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"Class {suspected} has an abnormally small trigger (mask L1 {triggers.MaskNorms[suspected]:F1} vs median {median:F1}; anomaly index {statistic:F2} ≥ {context.Threshold}): a likely backdoor target.")
            : string.Create(CultureInfo.InvariantCulture, $"No class has an abnormally small trigger (largest anomaly index {statistic:F2} < {context.Threshold}; {TrojanProbeParameters.Where(evidence)}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, TriggerImages.For(triggers, suspected));
    }

    /// <summary>
    /// Anomaly index of each norm below the median: (median − norm) / (1.4826 · MAD). Norms above the median score 0,
    /// because only unusually small triggers indicate a backdoor.
    /// </summary>
    internal static (double[] Indices, double Median, double Mad) AnomalyIndices(IReadOnlyList<double> norms)
    {
        double median = Median(norms);
        double mad = Median(norms.Select(n => Math.Abs(n - median)).ToArray());
        double scale = Math.Max(NormalConsistency * mad, 1e-9 * Math.Max(median, 1));
        return (norms.Select(n => n < median ? (median - n) / scale : 0).ToArray(), median, mad);
    }

    private static double Median(IReadOnlyList<double> values)
    {
        double[] sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}
