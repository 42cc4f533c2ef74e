using System.Globalization;
using Audit.Domain.Findings;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Warp trigger inversion: per class, the universal smooth warp (a 4 × 4 control grid, displacement within a small
/// budget) that sends other classes' clean inputs there, tested on held-out inputs (<see cref="UniversalTriggerInversion"/>).
/// A WaNet trigger (Nguyen and Tran, ICLR 2021) moves pixels by a fraction of a pixel along a fixed smooth field and is
/// trained with noise warps so that only that field works; a clean model's classes are not reached by any warp this
/// small, the backdoored model's target is reached by one near its trigger. Independent of every other detector.
/// </summary>
public sealed class WarpInversionProbe : IProbe, IAuditedModelDetector
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "warp-inversion",
        "Warp trigger inversion (universal smooth warp)",
        "Nguyen and Tran, WaNet: Imperceptible Warping-based Backdoor Attack, ICLR 2021; Zhang et al., Cassandra, arXiv:2007.14433, 2020",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 0.1,
        ThresholdMeaning: "Largest share, over classes, of held-out clean inputs of other classes that one universal perturbation within the budget sends to the class; flagged when ≥ threshold.",
        [
            new ProbeParameter("warpStrength", ProbeParameterType.Number, "Largest displacement of the warp, in units of 2 / image size (WaNet's s; 0.5, the paper's default, is at most a quarter pixel).", ProbeParameters.Json(0.5), 0.01, 8),
            .. UniversalTriggerInversion.SearchParameters,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => RunShared(context, cancellationToken), cancellationToken);

    /// <inheritdoc />
    ProbeOutcome ISharedTrojanDetector.RunHere(ProbeContext context, CancellationToken cancellationToken) => RunShared(context, cancellationToken);

    // Once per audit and parameters: trojan-likelihood may have had it computed already, in the trigger scan's wait.
    private ProbeOutcome RunShared(ProbeContext context, CancellationToken cancellationToken) =>
        SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken) =>
        UniversalTriggerInversion.Run(context, Descriptor, TriggerFamily.Warp, "warpStrength", Read, Summarise, cancellationToken);

    /// <summary>The largest held-out success over classes, and its class.</summary>
    private static (double Statistic, int Suspected) Read(double[] success, int[] tried)
    {
        int suspected = UniversalTriggerInversion.Suspected(success);
        return (success[suspected], suspected);
    }

    private static string Summarise(UniversalTriggerSettings settings, UniversalTriggerInversion.Result result, double statistic, int suspected, double threshold, bool flagged) => flagged
        ? string.Create(CultureInfo.InvariantCulture, $"A smooth warp of the whole image moving no pixel more than {settings.Budget / 2:0.##} pixel sends {statistic:P0} of held-out inputs of other classes to class {suspected} (≥ {threshold:P0}): the model responds to an imperceptible warp by choosing that class, the shape of a warping-based trigger.")
        : string.Create(CultureInfo.InvariantCulture, $"No smooth warp moving no pixel more than {settings.Budget / 2:0.##} pixel sends {threshold:P0} of held-out inputs of other classes to one class (at most {statistic:P0}, class {suspected}).");
}
