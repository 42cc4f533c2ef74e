using System.Globalization;
using System.Text.Json;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>
/// One audit of the foreign zoo (models trained outside the project, benchmarks/foreign-zoo): what the manifest says
/// the model is, and what the service's trojan-likelihood finding recorded (its features and each detector's class).
/// </summary>
internal sealed record ForeignAudit(
    string Name,
    string Architecture,
    string? Attack,
    bool Implanted,
    int? TargetClass,
    string Status,
    string? RecordedVerdict,
    int? RecordedSuspected,
    string? FitGenerated,
    IReadOnlyDictionary<string, double> Features,
    IReadOnlyDictionary<string, int?> DetectorClasses,
    bool AtChance = false)
{
    /// <summary>Counted as the zoo counts: clean models, and backdoored ones whose implant took; audits that succeeded.</summary>
    public bool Counted => Status == "succeeded" && (Attack is null || Implanted);

    /// <summary>0 clean, 1 backdoored.</summary>
    public int Label => Attack is null ? 0 : 1;
}

/// <summary>
/// The foreign zoo's reading: the rates of a trojan-likelihood model on the audits recorded in
/// benchmarks/foreign-zoo/results.jsonl, recomputed from each audit's recorded features, so that a later fit can state
/// its own rates on these models without the models (which are not committed) and anyone can check the stated ones.
/// </summary>
internal static class ForeignZoo
{
    /// <summary>The committed audits of the foreign zoo.</summary>
    public const string CommittedResults = "benchmarks/foreign-zoo/results.jsonl";

    /// <summary>Reads the audits, one JSON object per line.</summary>
    public static IReadOnlyList<ForeignAudit> Read(string path) =>
        [.. File.ReadLines(path).Where(line => line.Length > 0).Select(Parse)];

    private static ForeignAudit Parse(string line)
    {
        using JsonDocument document = JsonDocument.Parse(line);
        JsonElement root = document.RootElement;
        JsonElement audit = root.GetProperty("audit");
        JsonElement likelihood = audit.GetProperty("trojanLikelihood");
        var features = new Dictionary<string, double>(StringComparer.Ordinal);
        if (likelihood.TryGetProperty("features", out JsonElement f) && f.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in f.EnumerateObject())
            {
                features[p.Name] = p.Value.GetDouble();
            }
        }

        var classes = new Dictionary<string, int?>(StringComparer.Ordinal);
        if (audit.TryGetProperty("detectors", out JsonElement d) && d.ValueKind == JsonValueKind.Object)
        {
            foreach (JsonProperty p in d.EnumerateObject())
            {
                classes[p.Name] = p.Value.TryGetProperty("suspectedTargetClass", out JsonElement c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : null;
            }
        }

        // The audit's findings hold the classes of the detectors the profile reports; the likelihood's own class is
        // the one its leading detector named, which may be a detector the profile does not report on its own (the
        // blend and warp searches): it is known by that name. A later fit led by yet another of those falls back to
        // Neural Cleanse's class, as the probe does when the leading detector names none.
        if (likelihood.TryGetProperty("suspectedClassFrom", out JsonElement from) && from.ValueKind == JsonValueKind.String
            && likelihood.TryGetProperty("suspectedTargetClass", out JsonElement named) && named.ValueKind == JsonValueKind.Number)
        {
            classes[from.GetString()!] = named.GetInt32();
        }

        return new ForeignAudit(
            root.GetProperty("name").GetString()!,
            root.GetProperty("architecture").GetString()!,
            root.GetProperty("attack").ValueKind == JsonValueKind.String ? root.GetProperty("attack").GetString() : null,
            root.GetProperty("implanted").GetBoolean(),
            root.TryGetProperty("targetClass", out JsonElement t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : null,
            audit.GetProperty("status").GetString()!,
            likelihood.TryGetProperty("verdict", out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null,
            likelihood.TryGetProperty("suspectedTargetClass", out JsonElement recorded) && recorded.ValueKind == JsonValueKind.Number ? recorded.GetInt32() : null,
            likelihood.TryGetProperty("modelGenerated", out JsonElement g) && g.ValueKind == JsonValueKind.String ? g.GetString() : null,
            features,
            classes,
            // The probe answered inconclusive because the model was not shown to do its task (audits since 2026-12-06 record
            // the check, since 2026-12-07 as "aboveLevel", before that as "aboveChance"; earlier ones predate it and always
            // carry features).
            likelihood.TryGetProperty("taskCheck", out JsonElement check) && check.ValueKind == JsonValueKind.Object
                && (check.TryGetProperty("aboveLevel", out JsonElement above) || check.TryGetProperty("aboveChance", out above))
                && above.ValueKind == JsonValueKind.False);
    }

    /// <summary>The model's p and flag for one audit, from the features the audit recorded (in the model's order).</summary>
    public static (double Probability, bool Flagged, int? Suspected) Score(TrojanLikelihoodModel model, ForeignAudit audit)
    {
        double[] features = [.. model.Features.Select(name => audit.Features.TryGetValue(name, out double value)
            ? value
            : throw new InvalidOperationException($"{audit.Name}: the audit recorded no '{name}'; it was audited under another fit's features."))];
        double threshold = model.ConformalThreshold(model.DefaultTargetFalseFailRate, out _);
        double p = model.Probability(features);
        return (p, p >= threshold, model.SuspectedClass(features, name => audit.DetectorClasses.GetValueOrDefault(name)).Class);
    }

    /// <summary>Rates at the default threshold over the counted audits, counted as the zoo's are (<see cref="ZooFit.Rates"/>).</summary>
    public static LikelihoodTestRates Measure(TrojanLikelihoodModel model, IReadOnlyList<ForeignAudit> audits) =>
        ZooFit.Rates([.. audits.Where(a => a.Counted).Select(a =>
        {
            if (a.AtChance)
            {
                // No p and no verdict, as the probe answered; counted as the zoo counts such models.
                return new ZooFit.HeldOutOutcome(a.Label, double.NaN, false, false, a.Attack ?? "none", a.Architecture, Inconclusive: true);
            }

            (double p, bool flagged, int? suspected) = Score(model, a);
            // Right targets and attack families are counted over backdoored models only; a clean one has neither.
            return new ZooFit.HeldOutOutcome(a.Label, p, flagged, suspected == a.TargetClass, a.Attack ?? "none", a.Architecture);
        })]);

    /// <summary>
    /// `remeasure --foreign FILE`: writes the foreign zoo's rates into the model file beside the zoo's, leaving every
    /// fitted number as it is. Refuses when recomputing from the recorded (rounded) features would give any audit
    /// another verdict than the service gave it under the same fit: then the stated rates would not be the audits'.
    /// </summary>
    /// <paramref name="seenWhenChosen"/>: how many of the first audits had been read when the fit was chosen (null:
    /// the model file's count); the rates on the audits after them are written apart.
    public static int Remeasure(string modelPath, string resultsPath, int? seenWhenChosen = null)
    {
        TrojanLikelihoodModel model = ZooFit.Load(modelPath);
        IReadOnlyList<ForeignAudit> audits = Read(resultsPath);
        List<string> disagreements = [.. audits.Where(a => a.Counted && a.FitGenerated == model.Generated
                && (a.AtChance ? "inconclusive" : Score(model, a).Flagged ? "fail" : "pass") != a.RecordedVerdict)
            .Select(a => a.Name)];
        if (disagreements.Count > 0)
        {
            Console.Error.WriteLine($"Recomputed verdicts differ from the audits' for {string.Join(", ", disagreements)}; not written.");
            return 1;
        }

        LikelihoodTestRates rates = Measure(model, audits);
        int? seen = seenWhenChosen ?? model.ForeignSeenWhenChosen;
        if (seen is < 0 || seen > audits.Count)
        {
            Console.Error.WriteLine($"--seen-when-chosen {seen}: the file holds {audits.Count} audits; not written.");
            return 1;
        }

        LikelihoodTestRates? unseen = seen is { } n ? Measure(model, [.. audits.Skip(n)]) : null;
        Console.WriteLine($"was: {JsonSerializer.Serialize(model.ForeignTest, TrojanLikelihoodModel.JsonOptions)}");
        string measured = ZooFit.UtcMinute() + string.Create(
            CultureInfo.InvariantCulture,
            $" by tools/Audit.ModelZoo remeasure --foreign {resultsPath} ({rates.Clean} clean, {rates.Backdoored} backdoored models trained outside the project{(seen is { } k ? $"; the first {k} audits had been read when the fit was chosen, the other {audits.Count - k} were read after" : "")})");
        File.WriteAllText(modelPath, (model with { ForeignTest = rates, ForeignTestMeasured = measured, ForeignSeenWhenChosen = seen, ForeignUnseenTest = unseen }).FileText());
        Console.WriteLine($"wrote {modelPath}: {JsonSerializer.Serialize(rates, TrojanLikelihoodModel.JsonOptions)}");
        if (unseen is not null)
        {
            Console.WriteLine($"read only after the fit was chosen (audits {seen + 1}–{audits.Count}): {JsonSerializer.Serialize(unseen, TrojanLikelihoodModel.JsonOptions)}");
        }

        return 0;
    }
}
