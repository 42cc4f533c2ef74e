using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>One probe's result on one zoo model.</summary>
internal sealed record ProbeResult(string Verdict, double? Score, double? Statistic, int? SuspectedClass, double Seconds, string Summary);

/// <summary>One line of a survey file: the model, what each probe said, and the meta-classifier's features.</summary>
internal sealed record SurveyRecord(
    string Name,
    string Hash,
    string Split,
    int AuditSeed,
    ZooRecipe Recipe,
    double CleanAccuracy,
    double? AttackSuccessRate,
    bool Implanted,
    IReadOnlyDictionary<string, ProbeResult> Probes,
    double[]? Features);

/// <summary>
/// Runs the service's trojan probes on zoo models the way an audit does (ProbeRunner, one evaluation session per
/// model, the ONNX file and a safetensors evidence file of 1,000 clean test images) and appends one JSON line per model
/// to <c>survey/&lt;split&gt;.jsonl</c>; models already in the file are skipped, so an interrupted survey resumes.
/// </summary>
internal sealed class ZooSurvey(string cacheFolder, ZooTrainer trainer, int auditSeed)
{
    public static IReadOnlyList<string> Detectors { get; } = ["neural-cleanse", "strip", "activation-clustering", "spectral-signatures"];

    public static string SurveyFile(string cacheFolder, string split) =>
        Path.Combine(Directory.CreateDirectory(Path.Combine(cacheFolder, "survey")).FullName, $"{split}.jsonl");

    public static List<SurveyRecord> Read(string cacheFolder, string split)
    {
        string path = SurveyFile(cacheFolder, split);
        return File.Exists(path)
            ? File.ReadLines(path).Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<SurveyRecord>(l, ZooJson.Options)!).ToList()
            : [];
    }

    public async Task RunAsync(IReadOnlyList<ZooRecipe> recipes, string label, CancellationToken cancellationToken)
    {
        // One thread per survey process: on a shared machine several processes (one per split) use cores better than
        // one process's threads waiting on each other.
        TorchSharp.torch.set_num_threads(1);
        var likelihood = new TrojanLikelihoodProbe();
        var catalog = new ProbeCatalog([.. TrojanProbes.All(), likelihood]);
        var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));
        foreach (IGrouping<string, ZooRecipe> split in recipes.GroupBy(r => r.Split))
        {
            string file = SurveyFile(cacheFolder, split.Key);
            var done = Read(cacheFolder, split.Key).Where(r => r.AuditSeed == auditSeed).Select(r => r.Hash).ToHashSet(StringComparer.Ordinal);
            foreach (ZooRecipe recipe in split)
            {
                cancellationToken.ThrowIfCancellationRequested();
                string hash = recipe.ComputeHash();
                if (done.Contains(hash))
                {
                    continue;
                }

                ZooModel model = trainer.GetOrTrain(recipe);
                SurveyRecord record = await SurveyAsync(runner, likelihood, model, split.Key == ZooSplits.Test, cancellationToken);
                await File.AppendAllTextAsync(file, JsonSerializer.Serialize(record, ZooJson.Options) + "\n", cancellationToken);
                ProbeResult nc = record.Probes["neural-cleanse"];
                string likelihoodText = record.Probes.TryGetValue("trojan-likelihood", out ProbeResult? p)
                    ? string.Create(CultureInfo.InvariantCulture, $" p {p.Statistic:F3} {p.Verdict}")
                    : "";
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{split.Key,-12} {recipe.Name,-40} asr {model.AttackSuccessRate?.ToString("P0", CultureInfo.InvariantCulture) ?? "-",5} NC {nc.Statistic,6:F2} class {nc.SuspectedClass} (target {(recipe.Backdoored ? recipe.TargetClass : -1)}) {nc.Seconds,5:F0}s{likelihoodText}"));
            }
        }

        TrojanLikelihoodModel? fitted = TrojanLikelihoodModel.Embedded();
        foreach (string split in recipes.Select(r => r.Split).Distinct())
        {
            string markdown = SurveyReport.Markdown(Read(cacheFolder, split).Where(r => r.AuditSeed == auditSeed).ToList(), fitted, split);
            string path = Path.ChangeExtension(SurveyFile(cacheFolder, split), ".md");
            await File.WriteAllTextAsync(path, markdown, cancellationToken);
            Console.WriteLine($"wrote {path} ({label})");
            Console.WriteLine(markdown);
        }
    }

    private async Task<SurveyRecord> SurveyAsync(ProbeRunner runner, TrojanLikelihoodProbe likelihood, ZooModel model, bool withLikelihood, CancellationToken cancellationToken)
    {
        string onnx = Path.Combine(trainer.ModelFolder, model.OnnxFile);
        string evidence = trainer.Evidence(model.Recipe.Scaling);
        var results = new Dictionary<string, ProbeResult>(StringComparer.Ordinal);
        var details = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        using EvaluationSession session = runner.Open(onnx, evidence, "cpu", auditSeed);
        IEnumerable<string> probes = withLikelihood && likelihood.Descriptor.DefaultThreshold > 0 && TrojanLikelihoodModel.Embedded() is not null
            ? [.. Detectors, "trojan-likelihood"]
            : Detectors;
        foreach (string probe in probes)
        {
            var clock = Stopwatch.StartNew();
            ProbeOutcome outcome = await session.RunAsync(new ProbeInvocation(probe, new Dictionary<string, JsonElement>(), null), new Progress<double>(), cancellationToken);
            details[probe] = outcome.Details;
            results[probe] = new ProbeResult(
                outcome.Verdict.ToString().ToLowerInvariant(),
                outcome.Score,
                outcome.Details["statistic"] is JsonValue s ? s.GetValue<double>() : null,
                outcome.Details["suspectedTargetClass"] is JsonValue c ? c.GetValue<int>() : null,
                Math.Round(clock.Elapsed.TotalSeconds, 2),
                outcome.Summary);
        }

        double[]? features = Detectors.All(d => results[d].Verdict != "inconclusive")
            ? TrojanLikelihoodFeatures.From(details["neural-cleanse"], details["strip"], details["activation-clustering"], details["spectral-signatures"])
            : null;
        return new SurveyRecord(
            model.Recipe.Name, model.Hash, model.Recipe.Split, auditSeed, model.Recipe, model.CleanAccuracy, model.AttackSuccessRate, model.Implanted, results, features);
    }
}

/// <summary>Verdict helpers for survey records.</summary>
internal static class SurveyVerdicts
{
    public static bool Failed(this ProbeResult result) => string.Equals(result.Verdict, nameof(Verdict.Fail), StringComparison.OrdinalIgnoreCase);
}
