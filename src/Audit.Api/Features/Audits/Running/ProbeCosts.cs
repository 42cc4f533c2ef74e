using System.Collections.Frozen;
using Audit.Domain.Profiles;

namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// Relative running cost of each probe, so progress advances with the work done rather than the number of probes
/// finished. The own costs are rough estimates of relative wall-clock cost, not measurements (the report: the
/// trojan probes took ~185 s together and the rest ~3 s): the trigger scan (Neural Cleanse style optimisation, one
/// mask per class) dominates; the inventory only reads the graph. Re-estimate them from the probe duration histogram. The trojan probes
/// share one trigger scan per session: whichever of them runs first pays for it, the others only for what is left of
/// their own cost after it (measured, <c>AfterScan</c>).
/// </summary>
public static class ProbeCosts
{
    /// <summary>Cost of the shared trigger scan, carried by the first probe in the plan that needs it.</summary>
    public const double TriggerScan = 40;

    private const double Default = 5;

    private static readonly FrozenSet<string> ScanProbes =
        new[] { "neural-cleanse", "activation-clustering", "spectral-signatures", "strip", "trojan-likelihood" }.ToFrozenSet(StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, double> Own = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["model-inventory"] = 0.5,
        ["accuracy"] = 2,
        ["perturbation-robustness"] = 6,
        ["neural-cleanse"] = 1,
        ["activation-clustering"] = 2,
        ["spectral-signatures"] = 2,
        ["strip"] = 4,
        ["linear-deception"] = 8,
        ["contrast-consistent-search"] = 8,
        ["cue-divergence"] = 6,
        ["trigger-search"] = 30,
        // trojan-likelihood reads the four detectors' statistics (the scan once, then STRIP, clustering and spectral
        // signatures); adversarial-sink runs its own walks on the model and a distilled reference. Measured in one
        // trojan-scan 2.0.0 audit of the BadNets fixture (load ≈ 16, 2026-11-30): 55.7 s with the scan and 31.2 s.
        // Since 2026-12-05 evening it also runs the contrastive search (contrastive-patch) after the scan: the built-in
        // trojan-scan audit of the README's BadNets example went from 22.1–22.5 s to 27.1–32.6 s wall (AMD EPYC), about
        // 16 more units.
        ["trojan-likelihood"] = 24,
        ["adversarial-sink"] = 27,

        // Its own (source, target) search on the model and on a shadow it trains: on the zoo's ten-class models 4–66 s
        // wall (median by architecture, two survey processes at load about 5, 2026-12-01), about the adversarial sink's.
        ["label-specific-scan"] = 25,

        // Read the model alone: the head's weights from one batched forward pass (about 0.1 s on a zoo model), and ten
        // backward passes over 200 inputs (about 0.5 s), 2026-12-01.
        ["weight-signature"] = 0.5,
        ["saliency-persistence"] = 2,

        // A universal perturbation per class, 30 Adam steps over 32 inputs, tested on 128: about 1 s per zoo model each
        // (survey --add-probe, one libtorch thread, 2026-12-01).
        ["blend-inversion"] = 1,
        ["warp-inversion"] = 1,

        // Neural Cleanse's search against the distilled reference on two lanes: the search alone took 4.5–24 s per zoo
        // model on one thread (survey, 2026-12-05), about half that on two; alone it also distils the reference.
        ["contrastive-patch"] = 24,

        // A thorough search of 30 pre-screened (source, target) pairs on the audited model: 4.1 s median, 9.8 s at most
        // per ten-class design model on one thread (survey --add-probe, two processes on two cores, 2026-12-07).
        ["prescreened-pair-search"] = 8,
        ["token-class-dominance"] = 3,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    // What is left of a probe's own cost once the trigger scan has run earlier in the same audit (the scan's 40 was
    // 17–21 s on the README's example on 2026-12-05, so a unit is about half a second there). The four detectors the
    // scan serves only read it: 0.0–0.2 s each after it (and nothing once trojan-likelihood, which runs them, has
    // shared their outcomes). The adversarial sink test walks on the scan's distilled reference, and its reference
    // walks fill the scan's lanes while they wait for each other (Lanes.BothFillingWaits), so after the scan only its
    // audited-model walks are left: 0.9–1.5 s, against 27 when it runs alone. With the own costs above, the built-in
    // trojan-scan 2.0.0 audit's progress sat at 0.57 when the scan ended, about a second before the audit did.
    private static readonly FrozenDictionary<string, double> AfterScan = new Dictionary<string, double>(StringComparer.Ordinal)
    {
        ["neural-cleanse"] = 0.2,
        ["strip"] = 0.2,
        ["activation-clustering"] = 0.2,
        ["spectral-signatures"] = 0.2,
        ["adversarial-sink"] = 3,

        // The scan's reference is the session's, so only the search is left.
        ["contrastive-patch"] = 12,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// The weight of every probe the profile runs, in run order (control by control), normalised to sum to 1.
    /// Controls the audit's evidence cannot serve are skipped whole and weigh nothing, which
    /// <paramref name="runs"/> says per control.
    /// </summary>
    public static IReadOnlyList<double> Plan(Profile profile, Func<Control, bool> runs)
    {
        var weights = new List<double>();
        bool scanPaid = false;
        foreach (Control control in profile.Controls)
        {
            bool running = runs(control);
            foreach (ProbeRequirement probe in control.Probes)
            {
                if (!running)
                {
                    weights.Add(0);
                    continue;
                }

                double cost = scanPaid && AfterScan.TryGetValue(probe.Probe, out double left) ? left : Own.GetValueOrDefault(probe.Probe, Default);
                if (ScanProbes.Contains(probe.Probe) && !scanPaid)
                {
                    cost += TriggerScan;
                    scanPaid = true;
                }

                weights.Add(cost);
            }
        }

        double total = weights.Sum();
        return total <= 0 ? weights.Select(_ => 0.0).ToList() : weights.Select(w => w / total).ToList();
    }
}
