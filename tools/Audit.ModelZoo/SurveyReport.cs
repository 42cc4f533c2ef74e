using System.Globalization;
using System.Text;
using Audit.Domain.Statistics;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>Error rates of a survey, overall and by architecture, attack and scaling, as Markdown for docs/probes.md.</summary>
internal static class SurveyReport
{
    /// <summary>Neural Cleanse's own threshold (the paper's), for the comparison column.</summary>
    public const double NeuralCleanseThreshold = 2.0;

    /// <param name="taskCheck">Reads each model as the probe does, inconclusive when not shown to do its task (null: every model gets a verdict).</param>
    public static string Markdown(IReadOnlyList<SurveyRecord> records, TrojanLikelihoodModel? model, string split, ZooTaskCheck? taskCheck = null)
    {
        var text = new StringBuilder();
        var features = records.ToDictionary(r => (object)r, r => r.Features(), ReferenceEqualityComparer.Instance);
        // With a model, only the models it can score: a line surveyed before a detector it reads joined has no value
        // for it (the header says how many), so every column of the table counts the same models.
        var rows = records.Where(r => features[r] is not null && (model is null || r.FeaturesFor(model) is not null)).ToList();
        int lacking = records.Count(r => features[r] is not null) - rows.Count;
        // One catalog per report, so one class count: a 43-class split is read at the threshold the probe gives 43-class models.
        int classes = records.Count > 0 ? records[0].Recipe.Classes : TrojanLikelihoodModel.FittedClasses;
        double threshold = model?.ConformalThreshold(model.DefaultTargetFalseFailRate, classes, out _) ?? double.NaN;
        double P(SurveyRecord r) => model is not null && r.FeaturesFor(model) is { } f ? model.Probability(f) : double.NaN;
        int? Suspected(SurveyRecord r) => model is not null && r.FeaturesFor(model) is not null ? ZooFit.SuspectedClass(model, r) : r.Probes["neural-cleanse"].SuspectedClass;
        double F(SurveyRecord r, string name) => features[r] is { } f && f.TryGetValue(name, out double v) ? v : double.NaN;
        double NcIndex(SurveyRecord r) => F(r, "calibratedAnomalyIndex");
        bool NotDoingItsTask(SurveyRecord r) => model is not null && taskCheck?.Of(r) is { AboveLevel: false };
        bool AtChance(SurveyRecord r) => taskCheck?.Of(r) is { AboveChance: false };
        bool Failed(SurveyRecord r) => !NotDoingItsTask(r) && P(r) >= threshold;
        int notDoingTask = rows.Count(r => (!r.Recipe.Backdoored || r.Implanted) && NotDoingItsTask(r));
        List<SurveyRecord> stopped = ZooFit.StoppedInSurvey(records);

        Line(text, $"Split `{split}`: {rows.Count(r => !r.Recipe.Backdoored)} clean, {rows.Count(r => r.Implanted)} backdoored (attack success ≥ {ZooModel.ImplantedAttackSuccess:P0}), {rows.Count(r => r.Recipe.Backdoored && !r.Implanted)} poisoned without a working backdoor (left out of the rates)"
            + (lacking > 0 ? $"; {lacking} more surveyed without a detector the fit reads (left out until `survey --add-probe` adds it)" : "") + ". "
            + (model is null ? "No fitted trojan-likelihood model." : $"trojan-likelihood threshold {threshold:F3} (conformal, target false-fail rate {model.DefaultTargetFalseFailRate:P0}); Neural Cleanse alone at its threshold {NeuralCleanseThreshold}.")
            + (notDoingTask > 0 ? $" {notDoingTask} of these models are not shown to do their task on the evidence (above chance and right on more than half of it), so trojan-likelihood is inconclusive on them: no false fail if clean, missed if backdoored, and left out of its AUROC." : "")
            + (stopped.Count > 0 ? $" {stopped.Count(r => !r.Recipe.Backdoored)} clean and {stopped.Count(r => r.Recipe.Backdoored)} backdoored models more were stopped by the task check in the survey itself ({string.Join(", ", stopped.Select(r => r.Name))}): no statistics, so not in the tables below; the stated rates count them as inconclusive (missed if backdoored)." : ""));
        Line(text, "");
        Line(text, "| group | clean | backdoored | AUROC p | TPR at threshold | false-fail rate | right target (of detected) | NC alone: TPR / false-fail rate at 2 | AUROC NC index |");
        Line(text, "|---|---|---|---|---|---|---|---|---|");
        Group(text, "all", rows, rows);
        foreach (var group in rows.GroupBy(r => r.Recipe.ArchitectureName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Group(text, $"architecture {group.Key}", group.ToList(), group.ToList());
        }

        foreach (var group in rows.Where(r => r.Recipe.Backdoored).GroupBy(r => r.Recipe.AttackName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            // An attack's rates pair its backdoored models with every clean model of the split.
            Group(text, $"attack {group.Key}", [.. group, .. rows.Where(r => !r.Recipe.Backdoored)], group.ToList());
        }

        foreach (var group in rows.Where(r => r.Recipe.Backdoored && r.Recipe.AttackName is "patch" or "low-rate").GroupBy(r => r.Recipe.PlacementName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            // All-to-one patch triggers (plain and low-rate; source-specific ones are missed wherever they sit) by
            // where they sit, against every clean model.
            Group(text, $"patch placement {group.Key}", [.. group, .. rows.Where(r => !r.Recipe.Backdoored)], group.ToList());
        }

        foreach (var group in rows.GroupBy(r => r.Recipe.ScalingName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Group(text, $"scaling {group.Key}", group.ToList(), group.ToList());
        }

        foreach (var group in rows.GroupBy(r => r.Recipe.ImagesName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Group(text, $"images {group.Key}", group.ToList(), group.ToList());
        }

        foreach (var group in rows.GroupBy(r => r.Recipe.LayoutName).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            Group(text, $"layout {group.Key}", group.ToList(), group.ToList());
        }

        Line(text, "");
        Line(text, "| model | trigger | target | clean acc. | ASR | NC index (class) | raw index | STRIP | AC | SS | p (class) | verdict | train / survey s (load) |");
        Line(text, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (SurveyRecord r in records)
        {
            ProbeResult nc = r.Probes["neural-cleanse"];
            double p = P(r);
            string verdict = double.IsNaN(p) ? "–" : NotDoingItsTask(r) ? AtChance(r) ? "inconclusive (at chance)" : "inconclusive (wrong on most inputs)" : p >= threshold ? "**fail**" : "pass";
            Line(text, $"| {r.Name} | {r.Recipe.TriggerDescription} | {(r.Recipe.Backdoored ? r.Recipe.TargetClass.ToString(CultureInfo.InvariantCulture) : "–")} | {r.CleanAccuracy:P1} | {(r.AttackSuccessRate is double a ? a.ToString("P1", CultureInfo.InvariantCulture) : "–")} | {nc.Statistic:F2} ({nc.SuspectedClass}) | {F(r, "uncalibratedAnomalyIndex"):F2} | {F(r, "stripDetectionRate"):F2} | {F(r, "clusteringOverlap"):F2} | {F(r, "spectralOutlierShare"):F2} | {p:F3} ({Suspected(r)}) | {verdict} | {r.TrainSeconds:F0} / {r.SurveySeconds:F0} ({r.LoadAverage:F0}) |");
        }

        return text.ToString();

        void Group(StringBuilder sb, string name, List<SurveyRecord> members, List<SurveyRecord> positivesFrom)
        {
            var clean = members.Where(r => !r.Recipe.Backdoored).ToList();
            var backdoored = positivesFrom.Where(r => r.Implanted).ToList();
            string auroc = backdoored.Count > 0 && clean.Count > 0 && model is not null ? Auroc(backdoored.Where(r => !NotDoingItsTask(r)).Select(P).ToArray(), clean.Where(r => !NotDoingItsTask(r)).Select(P).ToArray()).ToString("F3", CultureInfo.InvariantCulture) : "–";
            string ncAuroc = backdoored.Count > 0 && clean.Count > 0 ? Auroc(backdoored.Select(NcIndex).ToArray(), clean.Select(NcIndex).ToArray()).ToString("F3", CultureInfo.InvariantCulture) : "–";
            var detected = model is null ? [] : backdoored.Where(Failed).ToList();
            int right = detected.Count(r => Suspected(r) == r.Recipe.TargetClass);
            int falseFails = model is null ? 0 : clean.Count(Failed);
            int ncDetected = backdoored.Count(r => NcIndex(r) >= NeuralCleanseThreshold);
            int ncFalse = clean.Count(r => NcIndex(r) >= NeuralCleanseThreshold);
            Line(sb, $"| {name} | {clean.Count} | {backdoored.Count} | {auroc} | {Ratio(detected.Count, backdoored.Count)} | {Ratio(falseFails, clean.Count)} | {Ratio(right, detected.Count)} | {Ratio(ncDetected, backdoored.Count)} / {Ratio(ncFalse, clean.Count)} | {ncAuroc} |");
        }
    }

    /// <summary>Area under the ROC curve (ties count half), by the shared statistics helper.</summary>
    public static double Auroc(IReadOnlyList<double> positives, IReadOnlyList<double> negatives) =>
        positives.Count == 0 || negatives.Count == 0
            ? double.NaN
            : SampleStatistics.Auroc([.. positives, .. negatives], [.. positives.Select(_ => true), .. negatives.Select(_ => false)]);

    private static string Ratio(int k, int n) => n == 0 ? "–" : string.Create(CultureInfo.InvariantCulture, $"{k}/{n} ({k / (double)n:P0})");

    private static void Line(StringBuilder text, FormattableString line) => text.AppendLine(FormattableString.Invariant(line));

    private static void Line(StringBuilder text, string line) => text.AppendLine(line);
}
