using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Opt-in measurement of the adversarial sink probe over cached models: every trojan fixture in the fixture cache
/// and the model zoo's design-split models of the folders in <c>AUDIT_SINK_SURVEY</c> (colon-separated zoo caches,
/// each with <c>models/*.json</c> and <c>datasets/</c>). Only design-split zoo models are run, so nothing reported as
/// held out chose a parameter. <c>AUDIT_SINK_PARAMS</c> (JSON object) overrides the probe's parameters. Run with
/// <c>AUDIT_SINK_SURVEY=/work/zoo-cache dotnet test tests/Audit.Evaluators.Tests --filter AdversarialSinkSurvey
/// --logger "console;verbosity=detailed"</c>; one line per model.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class AdversarialSinkSurvey(ITestOutputHelper output)
{
    [Fact]
    public async Task Survey()
    {
        string? folders = Environment.GetEnvironmentVariable("AUDIT_SINK_SURVEY");
        if (folders is null)
        {
            return;
        }

        var parameters = new Dictionary<string, object>();
        if (Environment.GetEnvironmentVariable("AUDIT_SINK_PARAMS") is { Length: > 0 } json)
        {
            foreach ((string key, JsonNode? value) in JsonNode.Parse(json)!.AsObject())
            {
                parameters[key] = JsonSerializer.Deserialize<JsonElement>(value!.ToJsonString());
            }
        }

        var probe = new AdversarialSinkProbe();
        var lines = new List<string>();
        foreach (string metrics in Directory.GetFiles(TrojanFixtures.CacheDirectory, "*.json").Order(StringComparer.Ordinal))
        {
            TrainedFixture? fixture = TryRead<TrainedFixture>(metrics);
            if (fixture?.Recipe is null || !File.Exists(fixture.OnnxPath))
            {
                continue;
            }

            if (Environment.GetEnvironmentVariable("AUDIT_SINK_ONLY") is { Length: > 0 } only && !only.Split(',').Any(o => metrics.Contains(o, StringComparison.Ordinal)))
            {
                continue;
            }

            string label = fixture.Recipe.Trigger == TriggerKind.None ? "clean" : $"target {fixture.Recipe.TargetClass}";
            lines.Add(await Line(probe, fixture, null, parameters, $"fixture {Path.GetFileNameWithoutExtension(metrics)} ({label})"));
            Progress(lines[^1]);
        }

        foreach (string folder in folders.Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string metrics in Directory.GetFiles(Path.Combine(folder, "models"), "*.json").Order(StringComparer.Ordinal))
            {
                JsonObject zoo = JsonNode.Parse(File.ReadAllText(metrics))!.AsObject();
                JsonObject recipe = zoo["recipe"]!.AsObject();
                int seed = (int)recipe["seed"]!;
                if (Split(seed) != "design")
                {
                    continue;
                }

                string scaling = ((string)recipe["scaling"]!).ToLowerInvariant();
                string images = (string?)recipe["images"] == "Colour32" ? "rgb32" : "gray28";
                string layout = ((string?)recipe["layout"] ?? "Nchw").ToLowerInvariant();
                string? dataset = Directory.GetFiles(Path.Combine(folder, "datasets"), "*.safetensors")
                    .FirstOrDefault(d => Path.GetFileName(d).EndsWith($"-{images}-{layout}-{scaling}.safetensors", StringComparison.Ordinal));
                string onnx = Path.Combine(folder, "models", (string)zoo["onnxFile"]!);
                if (dataset is null || !File.Exists(onnx))
                {
                    continue;
                }

                bool backdoored = (string)recipe["attack"]! != "None";
                string label = backdoored ? $"{recipe["attack"]} target {recipe["targetClass"]}, source {recipe["sourceClass"]}, rate {recipe["poisonRate"]}" : "clean";
                var stand = new TrainedFixture(TrojanFixtures.Clean, onnx, 0, null, 0);
                lines.Add(await Line(probe, stand, dataset, parameters, $"design {Path.GetFileNameWithoutExtension(metrics)} ({label})"));
                Progress(lines[^1]);
            }
        }

        foreach (string line in lines)
        {
            output.WriteLine(line);
        }

        if (Environment.GetEnvironmentVariable("AUDIT_SINK_OUT") is { Length: > 0 } file)
        {
            File.WriteAllLines(file, lines);
        }
    }

    private static async Task<string> Line(AdversarialSinkProbe probe, TrainedFixture fixture, string? dataset, IReadOnlyDictionary<string, object> parameters, string name)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        ProbeContext context = ProbeHarness.Context(probe, fixture, datasetPath: dataset, parameters: parameters, session: new Audit.Evaluators.Sessions.SessionCache());
        ProbeOutcome outcome;
        try
        {
            outcome = await probe.RunAsync(context, CancellationToken.None);
        }
        catch (Audit.Evaluators.Datasets.DatasetRejectedException rejected)
        {
            return $"{name}: skipped ({rejected.Message})";
        }

        JsonObject d = outcome.Details;
        return $"{name}: {outcome.Verdict} z {d["statistic"]?.ToJsonString()} class {d["suspectedTargetClass"]?.ToJsonString()} breadth {d["sinkBreadth"]?.ToJsonString()} n {d["typicalFlippedPerSource"]?.ToJsonString()} flip {d["flipRate"]?.ToJsonString()} agree {d["referenceAgreement"]?.ToJsonString()} excess {d["excessBreadths"]?.ToJsonString()} breadths {d["breadths"]?.ToJsonString()} ref {d["referenceBreadths"]?.ToJsonString()} top {d["topDestinationOf"]?.ToJsonString()} {clock.Elapsed.TotalSeconds:F1}s";
    }

    /// <summary>Appends a line to <c>AUDIT_SINK_OUT</c>.progress as it is measured, so a long survey can be followed.</summary>
    private static void Progress(string line)
    {
        if (Environment.GetEnvironmentVariable("AUDIT_SINK_OUT") is { Length: > 0 } file)
        {
            File.AppendAllLines(file + ".progress", [line]);
        }
    }

    private static T? TryRead<T>(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path));
        }
        catch (JsonException)
        {
            return default;
        }
    }

    /// <summary>The zoo's split of a seed (tools/Audit.ModelZoo ZooSplits.Of): the same hash, so design means design.</summary>
    private static string Split(int seed) =>
        (SHA256.HashData(Encoding.UTF8.GetBytes($"audit-model-zoo-split|{seed}"))[0] % 3) switch
        {
            0 => "design",
            1 => "calibration",
            _ => "test",
        };
}
