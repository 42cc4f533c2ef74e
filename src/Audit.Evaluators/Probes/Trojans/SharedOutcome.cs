using System.Globalization;
using System.Text.Json.Nodes;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A trojan detector's finding computed once per audit for one set of parameters: trojan-likelihood runs the four base
/// detectors to read their statistics, and the trojan-scan profile lists the same detectors again as supporting
/// findings, with the same (default) parameters. The second run would recompute exactly the same numbers.
/// </summary>
internal static class SharedOutcome
{
    /// <summary>
    /// The session's outcome of <paramref name="descriptor"/> for <paramref name="context"/>'s model, evidence, parameters,
    /// threshold and seed, computed by <paramref name="run"/> on first request. Each caller gets its own copy of the
    /// details (a JSON node has one parent).
    /// </summary>
    public static ProbeOutcome Of(ProbeContext context, ProbeDescriptor descriptor, Func<ProbeOutcome> run)
    {
        ProbeOutcome outcome = context.Session.GetOrCreate(Key(context, descriptor), run, out bool created);
        if (!created)
        {
            context.Progress.Report(1);
        }

        return outcome with { Details = (JsonObject)outcome.Details.DeepClone() };
    }

    /// <summary>
    /// <see cref="Of"/> of <paramref name="run"/> behind the audit's task check (<see cref="TaskCheck.Guard"/>): how every
    /// trojan detector computes its finding, once per audit and parameters.
    /// </summary>
    public static ProbeOutcome OfChecked(ProbeContext context, ProbeDescriptor descriptor, Func<ProbeOutcome> run, CancellationToken cancellationToken) =>
        Of(context, descriptor, () => TaskCheck.Guard(context, descriptor, run, cancellationToken));

    /// <summary>Whether the session holds, or is computing, <paramref name="descriptor"/>'s outcome for <paramref name="context"/>.</summary>
    public static bool IsStarted(ProbeContext context, ProbeDescriptor descriptor) => context.Session.Contains(Key(context, descriptor));

    private static string Key(ProbeContext context, ProbeDescriptor descriptor)
    {
        string parameters = string.Join('|', context.Parameters.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value.GetRawText()}"));
        return string.Create(
            CultureInfo.InvariantCulture,
            $"outcome|{descriptor.Name}|{context.ModelPath}|{context.DatasetPath}|{context.Device.Name}|{context.Seed}|{context.Threshold:R}|{parameters}");
    }
}
