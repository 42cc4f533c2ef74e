using System.Text.Json;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Each trojan detector read alone, at its default threshold and parameters (the supporting detectors also at the
/// threshold the design split sets for them in the 2.1.0 built-in profiles), on the model zoo's held-out splits
/// (calibration and test: no detector's threshold or statistic was chosen on them), as <c>tools/Audit.ModelZoo
/// detector-rates</c> counted them from the committed survey lines. Embedded so that the report's limitations table
/// quotes figures anyone can recompute from the repository; written by the tool, never edited by hand.
/// </summary>
/// <param name="Measured">When, by which command, from which survey files.</param>
/// <param name="Splits">The zoo splits counted.</param>
/// <param name="Detectors">One entry per detector the survey lines carry, in the catalog's order, its default threshold first.</param>
public sealed record DetectorHeldOutRates(string Measured, IReadOnlyList<string> Splits, IReadOnlyList<DetectorRates> Detectors)
{
    private const string ResourceName = "Audit.Evaluators.Probes.Trojans.DetectorHeldOutRates.json";

    /// <summary>The rates embedded in this build, or null when the build has none.</summary>
    public static DetectorHeldOutRates? Embedded()
    {
        using Stream? stream = typeof(DetectorHeldOutRates).Assembly.GetManifestResourceStream(ResourceName);
        return stream is null ? null : JsonSerializer.Deserialize<DetectorHeldOutRates>(stream, TrojanLikelihoodModel.JsonOptions);
    }

    /// <summary>The file as the tool writes it: indented JSON and a newline.</summary>
    public string FileText() => JsonSerializer.Serialize(this, TrojanLikelihoodModel.JsonOptions) + "\n";

    /// <summary>
    /// The rates of <paramref name="probe"/> counted at <paramref name="threshold"/> (null: its default threshold, the
    /// first row the tool writes for it), or null when the survey does not carry it or it was not counted there.
    /// </summary>
    public DetectorRates? For(string probe, double? threshold = null) =>
        Detectors.Where(d => string.Equals(d.Probe, probe, StringComparison.Ordinal))
            .FirstOrDefault(d => threshold is null || d.Threshold == threshold.Value);
}

/// <summary>One detector alone on the held-out zoo models: a model is flagged when its statistic reaches the threshold.</summary>
/// <param name="Probe">The probe's id.</param>
/// <param name="Threshold">The threshold counted at: the probe's default, or a supporting control's design-split threshold.</param>
/// <param name="Mode">The trigger-test mode the lines were measured in (STRIP, activation clustering, spectral signatures), else null.</param>
/// <param name="Clean">Clean models it answered on.</param>
/// <param name="FalseFails">Of those, flagged.</param>
/// <param name="Backdoored">Backdoored models (implant taken) it answered on.</param>
/// <param name="Detected">Of those, flagged.</param>
/// <param name="RightClass">Of the flagged backdoored models, those whose suspected class is the implanted target.</param>
/// <param name="Inconclusive">Models it could not answer on (left out of every other count).</param>
/// <param name="Auroc">AUROC of its statistic, backdoored against clean.</param>
/// <param name="ByAttack">The backdoored models per attack family.</param>
public sealed record DetectorRates(
    string Probe,
    double Threshold,
    string? Mode,
    int Clean,
    int FalseFails,
    int Backdoored,
    int Detected,
    int RightClass,
    int Inconclusive,
    double Auroc,
    IReadOnlyList<LikelihoodAttackRates> ByAttack);
