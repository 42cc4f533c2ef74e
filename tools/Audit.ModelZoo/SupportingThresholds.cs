using System.Globalization;
using System.Text;

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

    public static int Run(string designCache, int auditSeed)
    {
        List<SurveyRecord> design = [.. ZooSurvey.Read(designCache, ZooSplits.Design).Where(r => r.AuditSeed == auditSeed)];
        if (design.Count == 0)
        {
            Console.Error.WriteLine($"No surveyed design split under {designCache}.");
            return 1;
        }

        Console.Write(Markdown(Compute(design)));
        return 0;
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
