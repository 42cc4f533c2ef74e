namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// How STRIP, activation clustering and spectral signatures use the audit's trigger scan. <c>candidate</c> (the
/// default): the statistic counts only when the suspected class's trigger is a candidate backdoor trigger (its
/// Neural Cleanse anomaly index reaches <c>candidateIndex</c>), so the probe adds a test of that trigger, not a
/// separate detection. <c>independent</c>: no gate; the statistic measured on the smallest recovered trigger is the
/// score, whatever Neural Cleanse concluded, so the probe is a measurement of its own (which also flags a natural
/// feature that behaves like a trigger: read it with its measured error rates).
/// </summary>
internal static class TriggerTestMode
{
    public const string Candidate = "candidate";

    public const string Independent = "independent";

    public static ProbeParameter Parameter { get; } = new(
        "mode",
        ProbeParameterType.String,
        "'candidate': the statistic counts only when Neural Cleanse's (calibrated) anomaly index of the suspected class reaches candidateIndex (requireAnomalousTrigger applies); 'independent': no gate, the statistic measured on the smallest recovered trigger is the score.",
        ProbeParameters.Json(Candidate),
        AllowedValues: [Candidate, Independent]);

    /// <summary>The probe's mode.</summary>
    /// <exception cref="ArgumentException">Not one of the two modes (profiles are validated before this).</exception>
    public static string Of(ProbeParameters parameters)
    {
        string mode = parameters.String("mode");
        return mode is Candidate or Independent ? mode : throw new ArgumentException($"mode must be '{Candidate}' or '{Independent}'; got '{mode}'.", nameof(parameters));
    }

    /// <summary>Whether the probe's statistic counts: always in independent mode, else when the trigger is a candidate.</summary>
    public static bool Counts(string mode, ProbeParameters parameters, TriggerScan scan) =>
        mode == Independent || TrojanProbeParameters.IsCandidate(parameters, scan);

    /// <summary>What the summary says first: why nothing counts (candidate mode, no candidate), or that no gate applied.</summary>
    public static string Preamble(string mode, bool counts, TriggerScan scan) =>
        !counts ? TrojanProbeParameters.NoCandidate(scan) + " "
        : mode == Independent ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"Independent mode (no candidate gate; the smallest recovered trigger is class {scan.SuspectedClass}'s, anomaly index {scan.AnomalyIndex:F2}): ")
        : "";
}
