using System.Globalization;
using Audit.Domain.Findings;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Blend trigger inversion: per class, the universal additive pattern within a small L∞ budget that sends other
/// classes' clean inputs there, tested on held-out inputs (<see cref="UniversalTriggerInversion"/>). A blended trigger
/// (Chen et al., 2017: x' = (1 − α)x + αp over the whole image) is an input-wide, low-amplitude change that Neural
/// Cleanse's small mask cannot express; the model that learnt it gives its target a universal pattern of about that
/// size. Independent of every other detector: no mask search, no reference, no candidate.
/// </summary>
public sealed class BlendInversionProbe : IProbe, IAuditedModelDetector
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "blend-inversion",
        "Blend trigger inversion (universal additive pattern)",
        "Chen et al., Targeted Backdoor Attacks on Deep Learning Systems Using Data Poisoning, arXiv:1712.05526, 2017; Zhang et al., Cassandra, arXiv:2007.14433, 2020",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 3,
        ThresholdMeaning: "How far, in log-odds, the class a universal additive pattern within the budget reaches most often (on held-out inputs of other classes) stands above the median class; flagged when ≥ threshold.",
        [
            new ProbeParameter("epsilon", ProbeParameterType.Number, "L∞ budget of the additive pattern, as a share of the input range (16/255, the common image L∞ budget).", ProbeParameters.Json(16.0 / 255), 0.001, 1),
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
        UniversalTriggerInversion.Run(context, Descriptor, TriggerFamily.Additive, "epsilon", Read, Summarise, cancellationToken);

    /// <summary>How far the most reachable class stands above the median one, in log-odds, and its class.</summary>
    private static (double Statistic, int Suspected) Read(double[] success, int[] tried)
    {
        (double gap, int top) = UniversalTriggerInversion.LogitGap(success, tried);
        return (gap, top);
    }

    private static string Summarise(UniversalTriggerSettings settings, UniversalTriggerInversion.Result result, double statistic, int suspected, double threshold, bool flagged) => flagged
        ? string.Create(CultureInfo.InvariantCulture, $"A pattern added to the whole image within ±{settings.Budget:P1} of the input range sends {result.Success[suspected]:P0} of held-out inputs of other classes to class {suspected}, {statistic:F2} log-odds above the median class (≥ {threshold:F2}): the model has a universal input-wide shortcut to that class, the shape of a blended trigger.")
        : string.Create(CultureInfo.InvariantCulture, $"No class stands out as reachable by a pattern added to the whole image within ±{settings.Budget:P1} of the input range (largest: class {suspected}, {result.Success[suspected]:P0} of held-out inputs of other classes, {statistic:F2} log-odds above the median class, < {threshold:F2}).");
}
