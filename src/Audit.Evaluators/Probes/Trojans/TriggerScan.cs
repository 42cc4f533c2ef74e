using Audit.Domain.Statistics;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>How the Neural Cleanse anomaly index is computed.</summary>
internal enum TriggerCalibration
{
    /// <summary>The paper's index over the raw mask norms.</summary>
    None,

    /// <summary>The index over log(norm / norm on a reference distilled from the model on clean inputs).</summary>
    Reference,
}

/// <summary>
/// Trigger reverse-engineering of the audited model and the decision it supports: which class is the suspected
/// backdoor target and how anomalous its trigger is. Computed once per audit and shared by the four trojan probes,
/// so they all name the same suspected class and stamp the same trigger.
/// </summary>
/// <param name="Audited">Triggers recovered on the audited model.</param>
/// <param name="Calibration">Whether the index is over raw norms or over ratios to the reference.</param>
/// <param name="ReferenceNorms">Per-class mask norms recovered on the distilled reference; null without calibration.</param>
/// <param name="ReferenceAgreement">Share of clean inputs on which the reference predicts the audited model's class.</param>
/// <param name="Scores">Per class, the value the anomaly index is taken over: the norm, or log(norm / reference norm).</param>
/// <param name="AnomalyIndices">Per class, (median − score) / (1.4826 · MAD) for scores below the median, else 0.</param>
/// <param name="Median">Median of <paramref name="Scores"/>.</param>
/// <param name="Mad">Median absolute deviation of <paramref name="Scores"/>.</param>
internal sealed record TriggerScan(
    ReverseEngineeredTriggers Audited,
    TriggerCalibration Calibration,
    double[]? ReferenceNorms,
    double? ReferenceAgreement,
    double[] Scores,
    double[] AnomalyIndices,
    double Median,
    double Mad)
{
    /// <summary>Consistency constant that makes the MAD estimate the standard deviation of a normal distribution.</summary>
    private const double NormalConsistency = 1.4826;

    /// <summary>The class with the largest anomaly index (the smallest trigger, relative to the reference when calibrated).</summary>
    public int SuspectedClass => Array.IndexOf(Scores, Scores.Min());

    public double AnomalyIndex => AnomalyIndices[SuspectedClass];

    /// <summary>
    /// Runs (or reuses from the audit's session) the reverse-engineering of the audited model and, when calibrated, of a
    /// reference distilled from it on the clean inputs.
    /// </summary>
    public static TriggerScan Run(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        TriggerCalibration calibration,
        ReferenceSettings reference,
        double ratioNoise,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        string key = $"trigger-scan|{evidence.ModelKey}|{evidence.DatasetKey}|{evidence.Low}|{evidence.High}|{settings}|{calibration}|{reference}|{ratioNoise}";
        TriggerScan scan = evidence.Session.GetOrCreate(key, () => Compute(evidence, settings, calibration, reference, ratioNoise, progress, cancellationToken), out bool created);
        if (!created)
        {
            progress?.Report(1);
        }

        return scan;
    }

    /// <summary>
    /// Anomaly index of each value below the median: (median − value) / (1.4826 · MAD). Values above the median
    /// score 0, because only unusually small triggers indicate a backdoor.
    /// </summary>
    /// <param name="values">One value per class.</param>
    /// <param name="minimumScale">Smallest spread the index divides by (the measurement's own noise); 0 for the paper's index.</param>
    internal static (double[] Indices, double Median, double Mad) MadAnomaly(IReadOnlyList<double> values, double minimumScale = 0)
    {
        double median = SampleStatistics.Median(values);
        double mad = SampleStatistics.MedianAbsoluteDeviation(values);
        double scale = Math.Max(Math.Max(NormalConsistency * mad, minimumScale), 1e-9 * Math.Max(Math.Abs(median), 1));
        return (values.Select(n => n < median ? (median - n) / scale : 0).ToArray(), median, mad);
    }

    private static TriggerScan Compute(
        ClassifierEvidence evidence,
        ReverseEngineeringSettings settings,
        TriggerCalibration calibration,
        ReferenceSettings referenceSettings,
        double ratioNoise,
        IProgress<double>? progress,
        CancellationToken cancellationToken)
    {
        bool calibrated = calibration == TriggerCalibration.Reference;
        double auditedShare = calibrated ? 0.45 : 1;
        ReverseEngineeredTriggers audited = TriggerReverseEngineering.Run(
            evidence, settings, progress is null ? null : new Progress<double>(p => progress.Report(auditedShare * p)), cancellationToken);
        if (!calibrated)
        {
            (double[] plain, double median, double mad) = MadAnomaly(audited.MaskNorms);
            return new TriggerScan(audited, calibration, null, null, audited.MaskNorms, plain, median, mad);
        }

        using DistilledReference reference = DistilledReference.Train(
            evidence, referenceSettings, progress is null ? null : new Progress<double>(p => progress.Report(0.45 + 0.15 * p)), cancellationToken);
        progress?.Report(0.6);
        using ClassifierEvidence referenceEvidence = evidence.WithModel(reference, $"reference|{referenceSettings}");
        double agreement = reference.Agreement(evidence, cancellationToken);
        ReverseEngineeredTriggers recovered = TriggerReverseEngineering.Run(
            referenceEvidence, settings, progress is null ? null : new Progress<double>(p => progress.Report(0.6 + 0.4 * p)), cancellationToken);

        // Ratios remove each class's natural cost (shared by model and reference); logs make them symmetric, so
        // a trigger 4× smaller than its class's natural cost is as far from the median as one 4× larger.
        double[] scores = audited.MaskNorms.Zip(recovered.MaskNorms, (a, r) => Math.Log(Math.Max(a, 1e-6) / Math.Max(r, 1e-6))).ToArray();
        // With ten classes the MAD of one run can come out far below the ratios' run-to-run noise (a clean model's
        // classes happen to agree closely), and then an ordinary gap reads as an outlier: the spread is floored at
        // that measured noise.
        (double[] indices, double m, double d) = MadAnomaly(scores, ratioNoise);
        progress?.Report(1);
        return new TriggerScan(audited, calibration, recovered.MaskNorms, agreement, scores, indices, m, d);
    }
}
