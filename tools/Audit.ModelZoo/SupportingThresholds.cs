using System.Globalization;
using System.Text;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>
/// A supporting detector's threshold set on the design split (docs/probes.md, "The supporting controls' thresholds,
/// set on the design split"): the split-conformal point at <see cref="SupportingThresholds.Alpha"/> of its statistic
/// over the clean design models.
/// </summary>
/// <param name="Probe">The detector.</param>
/// <param name="CleanModels">Clean design models it answered on (n).</param>
/// <param name="Rank">k = ⌈(n + 1)(1 − α)⌉, the order statistic the threshold must exceed.</param>
/// <param name="RankedStatistic">s₍ₖ₎, or null when k &gt; n.</param>
/// <param name="Threshold">The smallest multiple of 0.01 above s₍ₖ₎, or the current threshold when that is not reachable.</param>
/// <param name="CurrentThreshold">The threshold the 2.0.0 profiles run the detector at: the probe's default.</param>
/// <param name="Reachable">False when k &gt; n or the point is above the statistic's largest value: the current threshold is kept.</param>
internal sealed record SupportingThreshold(string Probe, int CleanModels, int Rank, double? RankedStatistic, double Threshold, double CurrentThreshold, bool Reachable);

/// <summary>
/// Whether a supporting detector's control carries evidence, read on the design split at the threshold its 2.1.0
/// control runs at (docs/probes.md, "Which supporting controls the built-in profiles keep"): its 5 % point was
/// reachable, and it fails a larger share of the backdoored design models than of the clean ones beyond chance
/// (one-sided Fisher exact test below <see cref="SupportingThresholds.Alpha"/>). Only then do the 2.2.0 built-in
/// profiles keep it.
/// </summary>
/// <param name="Probe">The detector.</param>
/// <param name="Threshold">The threshold of its 2.1.0 control.</param>
/// <param name="Reachable">Whether that threshold is the design split's 5 % point (<see cref="SupportingThreshold.Reachable"/>).</param>
/// <param name="Backdoored">Backdoored design models (implant taken, above chance) it answered on.</param>
/// <param name="BackdooredFailed">Of those, the ones it failed.</param>
/// <param name="Clean">Clean design models (above chance) it answered on.</param>
/// <param name="CleanFailed">Of those, the ones it failed.</param>
/// <param name="FisherP">P(at least <paramref name="BackdooredFailed"/> of the failed models backdoored) if failing ignored the backdoor.</param>
internal sealed record SupportingControlEvidence(string Probe, double Threshold, bool Reachable, int Backdoored, int BackdooredFailed, int Clean, int CleanFailed, double FisherP)
{
    /// <summary>It fails backdoored models more often than clean ones beyond chance at α.</summary>
    public bool Separates => FisherP < SupportingThresholds.Alpha;

    /// <summary>Whether the 2.2.0 built-in profiles keep its control.</summary>
    public bool Kept => Reachable && Separates;
}

/// <summary>
/// `supporting-thresholds`: the thresholds of the supporting trojan controls in the 2.1.0 built-in profiles, computed
/// from the design split's clean models alone. Read alone, those detectors failed 5–42 % of the held-out clean models at
/// the papers' or the fixtures' thresholds; a split-conformal point (Vovk et al., "Algorithmic Learning in a Random
/// World", 2005; Lei et al., "Distribution-Free Predictive Inference for Regression", JASA 2018) bounds a clean model's
/// chance of a failed control by α for models exchangeable with the design ones, with nothing chosen but α.
/// </summary>
internal static class SupportingThresholds
{
    /// <summary>The target false-fail rate: issue #13's, and the one trojan-likelihood's threshold is set for.</summary>
    public const double Alpha = 0.05;

    /// <summary>
    /// The detectors the 2.0.0 built-in profiles report as supporting controls (at their probe defaults), with the largest
    /// value their statistic can take (STRIP, activation clustering and spectral signatures read shares; null: unbounded).
    /// </summary>
    public static readonly IReadOnlyList<(string Probe, double? Maximum)> Detectors =
    [
        ("neural-cleanse", null),
        ("strip", 1.0),
        ("activation-clustering", 1.0),
        ("spectral-signatures", 1.0),
        ("adversarial-sink", null),
    ];

    /// <summary>
    /// Each supporting detector's point on the clean models of <paramref name="design"/> (implant-free recipes; a model
    /// whose line has no statistic for the detector, or an inconclusive one, is not counted).
    /// </summary>
    public static List<SupportingThreshold> Compute(IReadOnlyList<SurveyRecord> design, double alpha = Alpha)
    {
        var defaults = Audit.Evaluators.Probes.Trojans.TrojanProbes.All().ToDictionary(p => p.Descriptor.Name, p => p.Descriptor.DefaultThreshold, StringComparer.Ordinal);
        var thresholds = new List<SupportingThreshold>();
        foreach ((string probe, double? maximum) in Detectors)
        {
            double current = defaults[probe];
            double[] statistics = [.. design
                .Where(r => !r.Recipe.Backdoored)
                .Select(r => r.Probes.GetValueOrDefault(probe))
                .Where(p => p is { Verdict: not "inconclusive", Statistic: not null })
                .Select(p => p!.Statistic!.Value)];
            (int rank, double? ranked, double? point) = ConformalPoint(statistics, alpha);
            bool reachable = point is { } p2 && (maximum is null || p2 <= maximum.Value);
            thresholds.Add(new SupportingThreshold(probe, statistics.Length, rank, ranked, reachable ? point!.Value : current, current, reachable));
        }

        return thresholds;
    }

    /// <summary>
    /// The split-conformal point of <paramref name="statistics"/> at <paramref name="alpha"/>: k = ⌈(n + 1)(1 − α)⌉, s₍ₖ₎,
    /// and the smallest multiple of 0.01 strictly above it (null when k &gt; n: too few models for that α). At most n − k
    /// of the statistics reach the point.
    /// </summary>
    public static (int Rank, double? RankedStatistic, double? Point) ConformalPoint(IReadOnlyList<double> statistics, double alpha)
    {
        double[] sorted = [.. statistics.Order()];
        int n = sorted.Length;
        // The small epsilon keeps (n + 1)(1 − α) that is an integer in exact arithmetic from rounding up past it.
        int rank = (int)Math.Ceiling(((n + 1) * (1 - alpha)) - 1e-9);
        if (n == 0 || rank > n)
        {
            return (rank, null, null);
        }

        double ranked = sorted[rank - 1];
        // Strictly above s(k): a model is flagged at statistic ≥ threshold, so s(k) itself must pass. Rounding s·100 to
        // nine places first keeps 2.3 (229.99999999999997 × 0.01 in binary) from giving 2.30 instead of 2.31.
        double point = (Math.Floor(Math.Round(ranked * 100, 9)) + 1) / 100;
        return (rank, ranked, point);
    }

    /// <summary>
    /// The 2.2.0 rule's reading of each supporting detector on <paramref name="design"/>, at the threshold
    /// <see cref="Compute"/> gives it: counted as <c>detector-rates</c> counts the held-out splits (clean recipes and
    /// backdoored ones whose implant took; a model <paramref name="taskCheck"/> stops, or an inconclusive answer, left out).
    /// </summary>
    public static List<SupportingControlEvidence> Evidence(IReadOnlyList<SurveyRecord> design, ZooTaskCheck taskCheck)
    {
        List<SupportingThreshold> thresholds = Compute(design);
        List<DetectorRates> rates = HeldOutDetectorRates.Measure(design, taskCheck, thresholds);
        var evidence = new List<SupportingControlEvidence>();
        foreach (SupportingThreshold t in thresholds)
        {
            DetectorRates r = rates.Single(x => x.Probe == t.Probe && x.Threshold == t.Threshold);
            evidence.Add(new SupportingControlEvidence(
                t.Probe,
                t.Threshold,
                t.Reachable,
                r.Backdoored,
                r.Detected,
                r.Clean,
                r.FalseFails,
                FisherExactTest.UpperTail(r.Detected, r.Backdoored, r.FalseFails, r.Clean)));
        }

        return evidence;
    }

    public static int Run(string designCache, int auditSeed)
    {
        List<SurveyRecord> design = [.. ZooSurvey.Read(designCache, ZooSplits.Design).Where(r => r.AuditSeed == auditSeed)];
        if (design.Count == 0)
        {
            Console.Error.WriteLine($"No surveyed design split under {designCache}.");
            return 1;
        }

        Console.Write(Markdown(Compute(design)));
        Console.WriteLine();
        Console.Write(Markdown(Evidence(design, new ZooTaskCheck(new ZooTrainer(designCache)))));
        return 0;
    }

    /// <summary>Which supporting controls the 2.2.0 built-ins keep, as a Markdown table (docs/probes.md).</summary>
    public static string Markdown(IReadOnlyList<SupportingControlEvidence> evidence)
    {
        var text = new StringBuilder();
        text.AppendLine("| detector | 2.1.0 threshold | 5 % point reachable | backdoored design models failed | clean design models failed | one-sided Fisher p | in 2.2.0 |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (SupportingControlEvidence e in evidence)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| `{e.Probe}` | {e.Threshold:0.###} | {(e.Reachable ? "yes" : "no")} | {e.BackdooredFailed}/{e.Backdoored} | {e.CleanFailed}/{e.Clean} | {(e.FisherP < 1e-4 ? e.FisherP.ToString("0.0E+0", CultureInfo.InvariantCulture) : e.FisherP.ToString("0.####", CultureInfo.InvariantCulture))} | {(e.Kept ? "**kept**" : "left out")} |");
        }

        return text.ToString();
    }

    /// <summary>The thresholds as a Markdown table (docs/probes.md).</summary>
    public static string Markdown(IReadOnlyList<SupportingThreshold> thresholds)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"| detector | clean design models n | k = ⌈(n + 1)(1 − {Alpha})⌉ | s₍ₖ₎ | 2.1.0 threshold | 2.0.0 threshold |");
        text.AppendLine("|---|---|---|---|---|---|");
        foreach (SupportingThreshold t in thresholds)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| `{t.Probe}` | {t.CleanModels} | {t.Rank} | {(t.RankedStatistic is { } s ? s.ToString("0.####", CultureInfo.InvariantCulture) : "–")} | {t.Threshold:0.###}{(t.Reachable ? "" : " (5 % not reachable: kept)")} | {t.CurrentThreshold:0.###} |");
        }

        return text.ToString();
    }
}
