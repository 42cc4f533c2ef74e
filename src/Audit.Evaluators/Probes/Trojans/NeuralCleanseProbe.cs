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
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "neural-cleanse",
        "Trigger reverse-engineering (Neural Cleanse)",
        "Wang et al., Neural Cleanse: Identifying and Mitigating Backdoor Attacks in Neural Networks, IEEE S&P 2019",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 2.0,
        ThresholdMeaning: "MAD anomaly index of the smallest class's trigger mask L1 norm; flagged when ≥ threshold.",
        TrojanProbeParameters.Scan);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        TriggerScan scan = TrojanProbeParameters.RunScan(parameters, evidence, context, context.Progress, cancellationToken);
        ReverseEngineeredTriggers triggers = scan.Audited;
        int suspected = scan.SuspectedClass;
        double statistic = scan.AnomalyIndex;
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;

        // The paper's index over raw norms, reported alongside so a reader can see what the calibration changed.
        (double[] plain, double plainMedian, double plainMad) = TriggerScan.MadAnomaly(triggers.MaskNorms, 0, scan.Basis);
        int smallest = Enumerable.Range(0, triggers.MaskNorms.Length).Where(k => triggers.Refined[k]).MinBy(k => triggers.MaskNorms[k]);
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["anomalyIndex"] = statistic,
            ["calibration"] = scan.Calibration == TriggerCalibration.Reference ? "reference" : "none",
            ["maskNorms"] = Rounded(triggers.MaskNorms),
            ["anomalyIndices"] = Rounded(scan.AnomalyIndices),
            ["attackSuccess"] = Rounded(triggers.AttackSuccess),
            ["reachedAttackThreshold"] = new JsonArray(triggers.Reached.Select(r => (JsonNode)r).ToArray()),
            ["medianNorm"] = plainMedian,
            ["medianAbsoluteDeviation"] = plainMad,
            ["uncalibratedAnomalyIndex"] = plain[smallest],
            ["uncalibratedSuspectedClass"] = smallest,
            ["steps"] = triggers.Steps,
            ["refinedClasses"] = new JsonArray(Enumerable.Range(0, triggers.Refined.Length).Where(k => triggers.Refined[k]).Select(k => (JsonNode)k).ToArray()),
            ["indexBasisClasses"] = new JsonArray(Enumerable.Range(0, scan.Basis.Length).Where(k => scan.Basis[k]).Select(k => (JsonNode)k).ToArray()),
            ["startsPerClass"] = new JsonArray(triggers.Starts.Select(s => (JsonNode)s).ToArray()),
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
            ["inputBounds"] = new JsonArray(triggers.Low, triggers.High),
            ["samples"] = evidence.Count,
            ["device"] = evidence.Model.Device.Name,
        };
        if (scan.ReferenceNorms is { } referenceNorms)
        {
            details["referenceMaskNorms"] = Rounded(referenceNorms);
            details["logNormRatios"] = Rounded(scan.Scores);
            details["medianLogNormRatio"] = scan.Median;
            details["medianAbsoluteDeviationLogNormRatio"] = scan.Mad;
            details["referenceAgreement"] = scan.ReferenceAgreement;
            details["ratioNoise"] = parameters.Double("ratioNoise");
        }

        if (scan.Transfer is { } transfer)
        {
            details["referenceAttackRate"] = Math.Round(transfer.ReferenceAttackRate, 4);
            details["auditedAttackRate"] = Math.Round(transfer.AuditedAttackRate, 4);
            details["triggerWorksOnReference"] = transfer.WorksOnReference;
        }

        string relative = scan.ReferenceNorms is { } r
            ? string.Create(CultureInfo.InvariantCulture, $"mask L1 {triggers.MaskNorms[suspected]:F1}, {Math.Exp(scan.Median - scan.Scores[suspected]):F1}× smaller than the classes' typical ratio to a reference distilled from the model (reference {r[suspected]:F1})")
            : string.Create(CultureInfo.InvariantCulture, $"mask L1 {triggers.MaskNorms[suspected]:F1} vs median {plainMedian:F1}");
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"Class {suspected} has an abnormally small trigger ({relative}; anomaly index {statistic:F2} ≥ {context.Threshold}): a likely backdoor target.")
            : string.Create(CultureInfo.InvariantCulture, $"No class has an abnormally small trigger (largest anomaly index {statistic:F2} < {context.Threshold}, class {suspected}: {relative}; {TrojanProbeParameters.Where(evidence)}).");
        if (scan.Transfer is { WorksOnReference: true } natural)
        {
            // Reported, not part of the verdict: no design-split measurement yet says how often it separates implants from natural features.
            summary += string.Create(CultureInfo.InvariantCulture,
                $" The recovered class-{suspected} trigger also works on the reference distilled from the model on clean inputs ({natural.ReferenceAttackRate:P0} of its inputs sent to class {suspected}, {natural.AuditedAttackRate:P0} on the audited model): it may be a natural feature of the class rather than an implant.");
        }

        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, TriggerImages.For(triggers, suspected));
    }

    private static JsonArray Rounded(IEnumerable<double> values) => new(values.Select(v => (JsonNode)Math.Round(v, 3)).ToArray());
}
