using System.Globalization;
using System.Text;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>
/// `detector-rates`: each trojan detector the survey lines carry, read alone at its default threshold on the held-out
/// splits (calibration and test; every detector's threshold was chosen on the design split, published, or set on the
/// fixture models before the zoo existed), written where the service embeds it
/// (<see cref="DetectorHeldOutRates"/>) so the report's limitations table quotes rates recomputable from the
/// committed survey instead of figures typed in from surveys that were not kept.
/// </summary>
internal static class HeldOutDetectorRates
{
    /// <summary>Where the service embeds the rates (relative to the repository root).</summary>
    public const string DefaultOutput = "src/Audit.Evaluators/Probes/Trojans/DetectorHeldOutRates.json";

    /// <summary>The splits no detector was tuned on.</summary>
    public static readonly IReadOnlyList<string> HeldOutSplits = [ZooSplits.Calibration, ZooSplits.Test];

    public static int Run(string cacheFolder, string designCache, int auditSeed, string? output)
    {
        List<SurveyRecord> records = [.. HeldOutSplits.SelectMany(s => ZooSurvey.Read(cacheFolder, s)).Where(r => r.AuditSeed == auditSeed)];
        if (records.Count == 0)
        {
            Console.Error.WriteLine($"No surveyed calibration or test split under {cacheFolder}.");
            return 1;
        }

        List<SurveyRecord> design = [.. ZooSurvey.Read(designCache, ZooSplits.Design).Where(r => r.AuditSeed == auditSeed)];
        List<SupportingThreshold> supporting = design.Count == 0 ? [] : SupportingThresholds.Compute(design);
        string measured = ZooFit.UtcMinute() + $" by tools/Audit.ModelZoo detector-rates on {string.Join(" and ", HeldOutSplits.Select(s => $"{cacheFolder}/survey/{s}.jsonl"))}"
            + (supporting.Count == 0 ? "" : $"; supporting thresholds from the design split of {designCache}");
        DetectorHeldOutRates rates = new(measured, HeldOutSplits, Measure(records, new ZooTaskCheck(new ZooTrainer(cacheFolder)), supporting));
        string path = output ?? DefaultOutput;
        File.WriteAllText(path, rates.FileText());
        Console.WriteLine($"wrote {path}");
        Console.Write(Markdown(rates.Detectors));
        return 0;
    }

    /// <summary>
    /// Every catalog detector present in the lines, counted at its default threshold: flagged when the statistic reaches
    /// it (the score, statistic / threshold, is then ≥ 1). Clean models and backdoored ones whose implant took count;
    /// poisoned models whose implant failed are neither. A model <paramref name="taskCheck"/> stops is inconclusive for
    /// every detector, as each probe now answers it (docs/probes.md, "The supporting detectors on models at chance"),
    /// whatever its line recorded (the lines were surveyed before the probes checked). A detector of
    /// <paramref name="supporting"/> whose design-split threshold differs from its default is counted a second time at
    /// that threshold (the 2.1.0 built-in profiles run it there; the report quotes the row of the threshold a control
    /// ran at).
    /// </summary>
    public static List<DetectorRates> Measure(IReadOnlyList<SurveyRecord> records, ZooTaskCheck taskCheck, IReadOnlyList<SupportingThreshold>? supporting = null)
    {
        ArgumentNullException.ThrowIfNull(taskCheck);
        List<SurveyRecord> usable = [.. records.Where(r => !r.Recipe.Backdoored || r.Implanted)];
        HashSet<SurveyRecord> stopped = [.. usable.Where(r => !taskCheck.Of(r).AboveLevel)];
        var rates = new List<DetectorRates>();
        var counted = TrojanProbes.All()
            .SelectMany(probe => new[] { (Name: probe.Descriptor.Name, Threshold: probe.Descriptor.DefaultThreshold) }
                .Concat((supporting ?? []).Where(s => s.Probe == probe.Descriptor.Name && s.Threshold != probe.Descriptor.DefaultThreshold).Select(s => (Name: s.Probe, s.Threshold))));
        foreach ((string name, double threshold) in counted)
        {
            var answered = usable
                .Select(r => (Record: r, Result: r.Probes.GetValueOrDefault(name)))
                .Where(x => x.Result is not null)
                .ToList();
            if (answered.Count == 0)
            {
                continue;
            }

            var scored = answered.Where(x => !stopped.Contains(x.Record) && x.Result!.Verdict != "inconclusive" && x.Result.Statistic is not null)
                .Select(x => (x.Record, Statistic: x.Result!.Statistic!.Value, x.Result.SuspectedClass))
                .ToList();
            bool Flagged((SurveyRecord Record, double Statistic, int? SuspectedClass) x) => x.Statistic >= threshold;
            bool Right((SurveyRecord Record, double Statistic, int? SuspectedClass) x) => x.SuspectedClass == x.Record.Recipe.TargetClass;
            var clean = scored.Where(x => !x.Record.Recipe.Backdoored).ToList();
            var backdoored = scored.Where(x => x.Record.Recipe.Backdoored).ToList();
            string[] modes = [.. answered.Select(x => (string?)x.Result!.Details?["mode"]).OfType<string>().Distinct(StringComparer.Ordinal)];
            rates.Add(new DetectorRates(
                name,
                threshold,
                modes.Length == 0 ? null : string.Join("/", modes),
                clean.Count,
                clean.Count(Flagged),
                backdoored.Count,
                backdoored.Count(Flagged),
                backdoored.Count(x => Flagged(x) && Right(x)),
                answered.Count - scored.Count,
                Math.Round(SurveyReport.Auroc([.. backdoored.Select(x => x.Statistic)], [.. clean.Select(x => x.Statistic)]), 4),
                [.. backdoored.GroupBy(x => x.Record.Recipe.AttackName).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .Select(g => new LikelihoodAttackRates(g.Key, g.Count(), g.Count(Flagged), g.Count(x => Flagged(x) && Right(x))))]));
        }

        return rates;
    }

    /// <summary>The rates as a Markdown table (docs/probes.md, "Model zoo: results").</summary>
    public static string Markdown(IReadOnlyList<DetectorRates> detectors)
    {
        var text = new StringBuilder();
        string[] attacks = [.. detectors.SelectMany(d => d.ByAttack).Select(a => a.Attack).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        text.AppendLine(CultureInfo.InvariantCulture, $"| detector (threshold{(detectors.Any(d => d.Mode is not null) ? ", mode" : "")}) | clean failed | backdoored caught | right target (of caught) | AUROC | {string.Join(" | ", attacks)} | no answer |");
        text.AppendLine("|---|---|---|---|---|" + string.Concat(attacks.Select(_ => "---|")) + "---|");
        foreach (DetectorRates d in detectors)
        {
            string byAttack = string.Join(" | ", attacks.Select(a => d.ByAttack.FirstOrDefault(x => x.Attack == a) is { } r ? $"{r.Detected}/{r.Backdoored}" : "–"));
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| `{d.Probe}` ({d.Threshold:0.###}{(d.Mode is null ? "" : ", " + d.Mode)}) | {d.FalseFails}/{d.Clean} ({Percent(d.FalseFails, d.Clean)}) | {d.Detected}/{d.Backdoored} ({Percent(d.Detected, d.Backdoored)}) | {d.RightClass}/{d.Detected} | {d.Auroc:0.000} | {byAttack} | {d.Inconclusive} |");
        }

        return text.ToString();
    }

    private static string Percent(int k, int n) => n == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{100.0 * k / n:0} %");
}
