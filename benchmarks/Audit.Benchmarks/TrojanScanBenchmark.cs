using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Testing.Onnx;
using TorchSharp;
using TorchSharp.Modules;

/// <summary>
/// Cost of the four-probe trojan scan against the number of classes and the input size, on a random-weight CNN
/// (conv 16 – ReLU – pool, conv 32 – ReLU – pool, linear 64, linear K) written with the project's ONNX writer and
/// 1,000 uniform random inputs in [0, 1], run the way an audit runs it (ProbeRunner, one evaluation session, the
/// ONNX file and a safetensors evidence file). Random weights measure cost, not detection. Prints one line: classes,
/// shape, parameters, wall and CPU seconds of the scan, wall seconds per probe, Neural Cleanse's steps and refined classes, the process's
/// peak resident memory (VmHWM).
/// </summary>
internal static class TrojanScanBenchmark
{
    public static async Task RunAsync(string[] args)
    {
        int classes = int.Parse(Value(args, "--classes", "10"), CultureInfo.InvariantCulture);
        long[] shape = Value(args, "--shape", "1,28,28").Split(',').Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        int seed = int.Parse(Value(args, "--seed", "1"), CultureInfo.InvariantCulture);
        string folder = Directory.CreateTempSubdirectory("trojan-scan-bench").FullName;
        try
        {
            string onnx = Path.Combine(folder, "model.onnx");
            string evidence = Path.Combine(folder, "evidence.safetensors");
            long parameters = Write(onnx, evidence, classes, shape);
            var catalog = new ProbeCatalog([.. TrojanProbes.All()]);
            var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));
            using EvaluationSession session = runner.Open(onnx, evidence, "cpu", seed);
            var seconds = new List<string>();
            var total = Stopwatch.StartNew();
            // CPU time as well as wall time: on a shared machine the wall time measures the other processes.
            TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            string steps = "", refined = "";
            foreach (string probe in new[] { "neural-cleanse", "strip", "activation-clustering", "spectral-signatures" })
            {
                var clock = Stopwatch.StartNew();
                ProbeOutcome outcome = await session.RunAsync(new ProbeInvocation(probe, new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
                seconds.Add(string.Create(CultureInfo.InvariantCulture, $"{probe}={clock.Elapsed.TotalSeconds:F1}"));
                if (probe == "neural-cleanse")
                {
                    steps = outcome.Details["steps"]?.ToJsonString() ?? "";
                    refined = outcome.Details["refinedClasses"] is { } r ? r.AsArray().Count.ToString(CultureInfo.InvariantCulture) : "all";
                }
            }

            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"classes={classes} shape={string.Join('x', shape)} params={parameters} wall_s={total.Elapsed.TotalSeconds:F1} cpu_s={(Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds:F1} {string.Join(' ', seconds)} nc_steps={steps} refined={refined} peak_rss_mib={PeakRssMiB():F0} load={Load()}"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static long Write(string onnx, string evidence, int classes, long[] shape)
    {
        torch.manual_seed(0);
        long h = shape[1] / 4, w = shape[2] / 4;
        using Sequential model = torch.nn.Sequential(
            ("conv1", torch.nn.Conv2d(shape[0], 16, 3, padding: 1)),
            ("relu1", torch.nn.ReLU()),
            ("pool1", torch.nn.MaxPool2d(2)),
            ("conv2", torch.nn.Conv2d(16, 32, 3, padding: 1)),
            ("relu2", torch.nn.ReLU()),
            ("pool2", torch.nn.MaxPool2d(2)),
            ("flatten", torch.nn.Flatten()),
            ("fc1", torch.nn.Linear(32 * h * w, 64)),
            ("relu3", torch.nn.ReLU()),
            ("fc2", torch.nn.Linear(64, classes)));
        model.eval();
        SequentialOnnxExporter.Save(model, shape, onnx);
        using var generator = new torch.Generator(7);
        using torch.Tensor inputs = torch.rand([1000, .. shape], generator: generator);
        SafetensorsDataset.Write(evidence, new DatasetArtifact(inputs.data<float>().ToArray(), [1000, .. shape], null));
        return model.parameters().Sum(p => p.numel());
    }

    private static string Value(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static double PeakRssMiB()
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
        return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    private static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";
}
