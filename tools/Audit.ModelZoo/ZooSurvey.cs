using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Audit.Domain.Findings;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;

namespace Audit.ModelZoo;

/// <summary>One probe's result on one zoo model, with the finding's details (every statistic the probe reported).</summary>
internal sealed record ProbeResult(string Verdict, double? Score, double? Statistic, int? SuspectedClass, double Seconds, string Summary, JsonObject? Details = null);

/// <summary>
/// One line of a survey file: the model, what each probe said (with its details, so a later fit can choose other
/// statistics and <c>survey --add-probe</c> can add a detector without rerunning the others), and what it cost.
/// </summary>
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
    double TrainSeconds = double.NaN,
    double SurveySeconds = double.NaN,
    double? LoadAverage = null)
{
    /// <summary>Every meta-classifier feature the findings give, or null when a base detector was inconclusive.</summary>
    public IReadOnlyDictionary<string, double>? Features()
    {
        if (TrojanLikelihoodFeatures.BaseDetectors.Any(d => !Probes.TryGetValue(d, out ProbeResult? r) || r.Details is null || r.Verdict == "inconclusive"))
        {
            return null;
        }

        return TrojanLikelihoodFeatures.All(Probes.Where(p => p.Value.Details is not null && p.Value.Verdict != "inconclusive")
            .ToDictionary(p => p.Key, p => p.Value.Details!, StringComparer.Ordinal));
    }

    /// <summary>
    /// Every detector answered inconclusive, Neural Cleanse on the task check: the survey's audit found the model not doing
    /// its task on the evidence and searched nothing, so the line has no statistics. The probe gives such a model no
    /// verdict, and the stated rates count it as inconclusive (a backdoored one as missed), never leave it out. Derived
    /// from the line, so not written into it (`survey --add-probe` rewrites lines and must change nothing but its probe).
    /// </summary>
    [JsonIgnore]
    public bool StoppedByTheTaskCheck =>
        Probes.Count > 0 && Probes.Values.All(p => p.Verdict == "inconclusive")
        && Probes.TryGetValue("neural-cleanse", out ProbeResult? cleanse) && cleanse.Details?["taskCheck"] is not null;

    /// <summary>The detectors that were inconclusive on this model.</summary>
    public IReadOnlySet<string> InconclusiveDetectors() =>
        Probes.Where(p => p.Value.Verdict == "inconclusive").Select(p => p.Key).ToHashSet(StringComparer.Ordinal);

    /// <summary>
    /// The values of <paramref name="names"/> as trojan-likelihood reads them: a feature of an optional detector that
    /// was inconclusive here takes its value from <paramref name="imputed"/> (the design split's mean); null when a
    /// feature is missing for any other reason (a base detector inconclusive, a detector not surveyed).
    /// </summary>
    public double[]? Values(IReadOnlyList<string> names, IReadOnlyDictionary<string, double> imputed) =>
        Features() is { } features
            ? TrojanLikelihoodFeatures.Values(names, features, InconclusiveDetectors(), i => imputed.TryGetValue(names[i], out double mean) ? mean : null)
            : null;

    /// <summary>The features <paramref name="model"/> reads, as the probe gives them (see <see cref="Values"/>), or null.</summary>
    public double[]? FeaturesFor(TrojanLikelihoodModel model) =>
        Features() is { } features ? TrojanLikelihoodFeatures.Values(model.Features, features, InconclusiveDetectors(), i => model.Means[i]) : null;
}

/// <summary>
/// Runs the service's trojan probes on zoo models the way an audit does (ProbeRunner, one evaluation session per
/// model, the ONNX file and a safetensors evidence file of 1,000 clean test images) and appends one JSON line per model
/// to <c>survey/&lt;split&gt;.jsonl</c>; models already in the file are skipped, so an interrupted survey resumes.
/// Models are taken in the catalog's order (splits interleaved), so a partial run covers every split.
/// </summary>
internal sealed class ZooSurvey(string cacheFolder, ZooTrainer trainer, int auditSeed, IReadOnlyDictionary<string, JsonElement>? scanSettings = null)
{
    /// <summary>Where a cache surveyed at other than the detectors' default settings records them (survey --scan-settings).</summary>
    public static string ScanSettingsFile(string cacheFolder) => Path.Combine(cacheFolder, "survey", "scan-settings.json");

    /// <summary>
    /// What a survey runs on every model: the base detectors, the read-alone and input-wide detectors that cost about a
    /// second, and the contrastive search the fit in use reads (the other slow detectors join by <c>--add-probe</c>).
    /// </summary>
    public static IReadOnlyList<string> Detectors { get; } = [.. TrojanLikelihoodFeatures.BaseDetectors, "weight-signature", "saliency-persistence", "blend-inversion", "warp-inversion", "contrastive-patch"];

    /// <summary>
    /// Detectors of <see cref="Detectors"/> that joined after lines were committed: a line surveyed before may lack them
    /// until <c>survey --add-probe</c> adds them (`remeasure` leaves such lines out and says how many).
    /// </summary>
    public static IReadOnlyList<string> JoinedLater { get; } = ["contrastive-patch"];

    public static string SurveyFile(string cacheFolder, string split) =>
        Path.Combine(Directory.CreateDirectory(Path.Combine(cacheFolder, "survey")).FullName, $"{split}.jsonl");

    public static List<SurveyRecord> Read(string cacheFolder, string split)
    {
        string path = SurveyFile(cacheFolder, split);
        if (!File.Exists(path))
        {
            return [];
        }

        // A running survey may be appending: a last line without its newline is not finished yet and is left out.
        string text = File.ReadAllText(path);
        string[] lines = text.Split('\n');
        IEnumerable<string> complete = text.EndsWith('\n') ? lines : lines[..^1];
        return complete.Where(l => l.Length > 0).Select(l => JsonSerializer.Deserialize<SurveyRecord>(l, ZooJson.Options)!).ToList();
    }

    /// <summary>The probes a survey can run: the service's trojan detectors (a new detector joins by joining <see cref="TrojanProbes.All"/>).</summary>
    private static ProbeRunner Runner() =>
        new(new ProbeCatalog([.. TrojanProbes.All()]), static (path, device) => new OnnxModelSource(path, device));

    public async Task RunAsync(IReadOnlyList<ZooRecipe> recipes, string label, CancellationToken cancellationToken, IReadOnlyList<string>? probes = null)
    {
        // One thread per survey process: on a shared machine several processes use cores better than one process's
        // threads waiting on each other, and one thread is the configuration the published figures were measured in.
        TorchSharp.torch.set_num_threads(1);
        using FileStream exclusive = Lock();
        CheckScanSettings();
        ProbeRunner runner = Runner();
        var done = recipes.Select(r => r.Split).Distinct()
            .SelectMany(split => Read(cacheFolder, split).Where(r => r.AuditSeed == auditSeed).Select(r => r.Hash))
            .ToHashSet(StringComparer.Ordinal);
        foreach (ZooRecipe recipe in recipes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string hash = recipe.ComputeHash();
            if (done.Contains(hash))
            {
                continue;
            }

            var trainClock = Stopwatch.StartNew();
            ZooModel model = trainer.GetOrTrain(recipe);
            double trained = trainClock.Elapsed.TotalSeconds;
            var clock = Stopwatch.StartNew();
            Dictionary<string, ProbeResult> results = await SurveyAsync(runner, model, probes ?? Detectors, cancellationToken);
            var record = new SurveyRecord(
                model.Recipe.Name, model.Hash, model.Recipe.Split, auditSeed, model.Recipe, model.CleanAccuracy, model.AttackSuccessRate, model.Implanted,
                results, model.TrainSeconds, Math.Round(clock.Elapsed.TotalSeconds, 2), LoadAverage());
            await File.AppendAllTextAsync(SurveyFile(cacheFolder, recipe.Split), JsonSerializer.Serialize(record, ZooJson.Options) + "\n", cancellationToken);
            // The first detector surveyed speaks for the model on the console (Neural Cleanse in a full survey).
            (string first, ProbeResult headline) = record.Probes.First();
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"{TimeProvider.System.GetUtcNow():HH:mm:ss} {recipe.Split,-12} {recipe.Name,-40} acc {model.CleanAccuracy:P0} asr {model.AttackSuccessRate?.ToString("P0", CultureInfo.InvariantCulture) ?? "-",5} {first} {headline.Statistic,6:F2} class {headline.SuspectedClass} (target {(recipe.Backdoored ? recipe.TargetClass : -1)}) train {(trained < 1 ? "cached" : $"{model.TrainSeconds:F0}s")} survey {record.SurveySeconds:F0}s load {record.LoadAverage:F1}"));
        }

        if (probes is not null)
        {
            // A partial survey has no verdicts to tabulate (trojan-likelihood needs the full set of detectors).
            return;
        }

        TrojanLikelihoodModel? fitted = TrojanLikelihoodModel.Embedded();
        foreach (string split in recipes.Select(r => r.Split).Distinct())
        {
            string markdown = SurveyReport.Markdown(Read(cacheFolder, split).Where(r => r.AuditSeed == auditSeed).ToList(), fitted, split, new ZooTaskCheck(trainer));
            string path = Path.ChangeExtension(SurveyFile(cacheFolder, split), ".md");
            await File.WriteAllTextAsync(path, markdown, cancellationToken);
            Console.WriteLine($"wrote {path} ({label})");
        }
    }

    /// <summary>
    /// Runs one more probe on the models already surveyed (of <paramref name="recipes"/>' splits, this audit seed) and
    /// adds its result to their lines, leaving the other probes' results as they are. Each model's line is rewritten
    /// as soon as its probe finishes (the file is replaced atomically), so an interrupted pass resumes.
    /// </summary>
    public async Task AddProbeAsync(IReadOnlyList<ZooRecipe> recipes, string probe, CancellationToken cancellationToken)
    {
        TorchSharp.torch.set_num_threads(1);
        using FileStream exclusive = Lock();
        ProbeRunner runner = Runner();
        var wanted = recipes.Select(r => r.ComputeHash()).ToHashSet(StringComparer.Ordinal);
        foreach (string split in recipes.Select(r => r.Split).Distinct().ToList())
        {
            List<SurveyRecord> records = Read(cacheFolder, split);
            for (int i = 0; i < records.Count; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                SurveyRecord record = records[i];
                if (record.AuditSeed != auditSeed || !wanted.Contains(record.Hash) || record.Probes.ContainsKey(probe))
                {
                    continue;
                }

                ZooModel model = trainer.GetOrTrain(record.Recipe);
                Dictionary<string, ProbeResult> added = await SurveyAsync(runner, model, [probe], cancellationToken);
                records[i] = record with { Probes = new Dictionary<string, ProbeResult>(record.Probes, StringComparer.Ordinal) { [probe] = added[probe] } };
                string file = SurveyFile(cacheFolder, split);
                ZooTrainer.WriteAtomically(file, path => File.WriteAllLines(path, records.Select(r => JsonSerializer.Serialize(r, ZooJson.Options))));
                ProbeResult result = added[probe];
                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{split,-12} {record.Name,-40} {probe} {result.Verdict} statistic {result.Statistic:F3} class {result.SuspectedClass} {result.Seconds:F0}s"));
            }
        }
    }

    private async Task<Dictionary<string, ProbeResult>> SurveyAsync(ProbeRunner runner, ZooModel model, IEnumerable<string> probes, CancellationToken cancellationToken)
    {
        string onnx = Path.Combine(trainer.ModelFolder, model.OnnxFile);
        string evidence = trainer.Evidence(model.Recipe);
        var results = new Dictionary<string, ProbeResult>(StringComparer.Ordinal);
        using EvaluationSession session = runner.Open(onnx, evidence, "cpu", auditSeed);
        foreach (string probe in probes)
        {
            var clock = Stopwatch.StartNew();
            ProbeOutcome outcome = await session.RunAsync(new ProbeInvocation(probe, SettingsFor(probe), null), new Progress<double>(), cancellationToken);
            results[probe] = new ProbeResult(
                outcome.Verdict.ToString().ToLowerInvariant(),
                outcome.Score,
                outcome.Details["statistic"] is JsonValue s && s.TryGetValue(out double statistic) ? statistic : null,
                outcome.Details["suspectedTargetClass"] is JsonValue c && c.TryGetValue(out int suspected) ? suspected : null,
                Math.Round(clock.Elapsed.TotalSeconds, 2),
                outcome.Summary,
                outcome.Details);
        }

        return results;
    }

    // The trojan detectors' descriptors, looked up once per survey for SettingsFor.
    private Dictionary<string, ProbeDescriptor>? _descriptors;

    /// <summary>
    /// The scan settings each detector takes of those the survey was given (every detector that declares a setting gets
    /// it, so the shared trigger scan and distilled reference stay shared); none by default.
    /// </summary>
    private Dictionary<string, JsonElement> SettingsFor(string probe)
    {
        var settings = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (scanSettings is null)
        {
            return settings;
        }

        _descriptors ??= TrojanProbes.All().ToDictionary(p => p.Descriptor.Name, p => p.Descriptor, StringComparer.Ordinal);
        ProbeDescriptor descriptor = _descriptors[probe];
        foreach ((string name, JsonElement value) in scanSettings)
        {
            if (descriptor.Parameters.Any(p => p.Name == name))
            {
                settings[name] = value;
            }
        }

        return settings;
    }

    /// <summary>
    /// A cache holds lines of one setting only: the first survey with --scan-settings records them, and a later survey
    /// with other settings (or none, into a cache that has some) is refused, so no fit mixes statistics of two scans.
    /// </summary>
    private void CheckScanSettings()
    {
        string path = ScanSettingsFile(cacheFolder);
        string wanted = scanSettings is null ? "" : JsonSerializer.Serialize(scanSettings.OrderBy(s => s.Key, StringComparer.Ordinal).ToDictionary(s => s.Key, s => s.Value));
        string recorded = File.Exists(path) ? File.ReadAllText(path).Trim() : "";
        if (recorded.Length == 0 && wanted.Length > 0 && Read(cacheFolder, ZooSplits.Design).Concat(Read(cacheFolder, ZooSplits.Calibration)).Concat(Read(cacheFolder, ZooSplits.Test)).Any())
        {
            throw new InvalidOperationException($"{cacheFolder} already holds lines surveyed at the default settings; survey --scan-settings into an empty cache.");
        }

        if (recorded.Length > 0 && recorded != wanted)
        {
            throw new InvalidOperationException($"{cacheFolder} was surveyed with scan settings {recorded}; this survey asks for {(wanted.Length == 0 ? "the defaults" : wanted)}.");
        }

        if (recorded.Length == 0 && wanted.Length > 0)
        {
            File.WriteAllText(path, wanted + "\n");
        }
    }

    /// <summary>
    /// One survey process per cache at a time: <c>--add-probe</c> rewrites the files a running survey appends to, so
    /// a second process would lose lines. The lock is an open file nobody else may open; the OS drops it on exit.
    /// </summary>
    private FileStream Lock()
    {
        string path = Path.Combine(Directory.CreateDirectory(Path.Combine(cacheFolder, "survey")).FullName, ".lock");
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"Another survey process holds {path}; run one survey process per cache at a time.", e);
        }
    }

    /// <summary>The one-minute load average (Linux), recorded beside each timing: the machine is shared.</summary>
    private static double? LoadAverage()
    {
        try
        {
            string text = File.ReadAllText("/proc/loadavg");
            return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}

/// <summary>Verdict helpers for survey records.</summary>
internal static class SurveyVerdicts
{
    public static bool Failed(this ProbeResult result) => string.Equals(result.Verdict, nameof(Verdict.Fail), StringComparison.OrdinalIgnoreCase);
}
