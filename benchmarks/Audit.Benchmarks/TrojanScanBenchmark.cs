using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
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
/// <c>--model m.onnx --dataset d.safetensors</c> audits those files instead; <c>--audit</c> runs the probes of the
/// built-in trojan-scan profile (the default version, or <c>--profile-version V</c>) in its order, at its thresholds,
/// instead of the four; <c>--breakdown</c> prints,
/// per probe, wall and CPU seconds and the peak resident memory while it ran, and per stage of the probes (scan lanes,
/// STRIP, pools, adversarial walks) its wall seconds and the highest resident memory sampled while it ran;
/// <c>--probes a,b</c> runs just those probes; <c>--findings f.json</c> writes every probe's verdict, score and details; <c>--write-to DIR</c> only writes the case's
/// model.onnx and evidence.safetensors there, for an audit of it through the service; <c>--append-softmax</c> audits the
/// model with a Softmax appended after its output (benchmarks/final-softmax); <c>--scale-logits F</c> audits it with its
/// output multiplied by F (a baked-in temperature 1/F, benchmarks/logit-scale); <c>--scale-input F[,B]</c> audits
/// x ↦ model(F · x + B), to be given evidence mapped by (x − B) / F (benchmarks/input-scale); per channel with
/// <c>--scale-input F1:F2:F3,B1:B2:B3</c> (benchmarks/channel-ranges); <c>--keep-classes a,b,…</c> audits the model cut
/// down to those classes.
/// </summary>
internal static class TrojanScanBenchmark
{
    public static async Task RunAsync(string[] args)
    {
        int classes = int.Parse(Value(args, "--classes", "10"), CultureInfo.InvariantCulture);
        long[] shape = Value(args, "--shape", "1,28,28").Split(',').Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        int seed = int.Parse(Value(args, "--seed", "1"), CultureInfo.InvariantCulture);
        bool audit = args.Contains("--audit");
        bool breakdown = args.Contains("--breakdown");
        string folder = Directory.CreateTempSubdirectory("trojan-scan-bench").FullName;
        try
        {
            string onnx = Value(args, "--model", "");
            string evidence = Value(args, "--dataset", "");
            long parameters = -1;
            if (onnx.Length == 0)
            {
                onnx = Path.Combine(folder, "model.onnx");
                evidence = Path.Combine(folder, "evidence.safetensors");
                parameters = Write(onnx, evidence, classes, shape);
            }

            string inputScale = Value(args, "--scale-input", "");
            if (inputScale.Length > 0)
            {
                // The same classifier taking its input on another scale: x ↦ model(F · x + B), as an export with a
                // Rescaling or Normalization layer inside (benchmarks/input-scale; give it evidence mapped by (x − B) / F).
                string rescaled = Path.Combine(folder, "scaled-input.onnx");
                // One value for every channel, or one per channel separated by ':' (F1:F2:F3,B1:B2:B3), as a
                // torchvision-style export standardises each colour channel with its own mean and deviation.
                string[] parts = inputScale.Split(',');
                float[] factors = Values(parts[0]);
                float[] shifts = parts.Length > 1 ? Values(parts[1]) : new float[factors.Length];
                ScaleInput(onnx, rescaled, factors, shifts);
                onnx = rescaled;
            }

            string scale = Value(args, "--scale-logits", "");
            if (scale.Length > 0)
            {
                // The same classifier with its scores multiplied by a constant (a temperature 1/scale baked into the export).
                string scaled = Path.Combine(folder, "scaled-logits.onnx");
                ScaleLogits(onnx, scaled, float.Parse(scale, CultureInfo.InvariantCulture));
                onnx = scaled;
            }

            string keepClasses = Value(args, "--keep-classes", "");
            if (keepClasses.Length > 0)
            {
                // The model cut down to some of its classes (give it evidence of those classes, relabelled in that order).
                string fewer = Path.Combine(folder, "fewer-classes.onnx");
                KeepClasses(onnx, fewer, [.. keepClasses.Split(',').Select(v => long.Parse(v, CultureInfo.InvariantCulture))]);
                onnx = fewer;
            }

            if (args.Contains("--append-softmax"))
            {
                // The model as an exporter that ends in a softmax would write it (docs/probes.md, "A final softmax").
                string twin = Path.Combine(folder, "with-softmax.onnx");
                AppendSoftmax(onnx, twin);
                onnx = twin;
            }

            string keep = Value(args, "--write-to", "");
            if (keep.Length > 0)
            {
                // Only the files, for an audit of the same case through the service (benchmarks/scripts/audit-run.sh).
                Directory.CreateDirectory(keep);
                File.Copy(onnx, Path.Combine(keep, "model.onnx"), overwrite: true);
                File.Copy(evidence, Path.Combine(keep, "evidence.safetensors"), overwrite: true);
                Console.WriteLine($"wrote {Path.Combine(keep, "model.onnx")} and {Path.Combine(keep, "evidence.safetensors")} ({parameters} parameters)");
                return;
            }

            var catalog = new ProbeCatalog([.. TrojanProbes.All(), new TrojanLikelihoodProbe()]);
            var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));
            var timings = new ProbeTimings();
            using EvaluationSession session = runner.Open(onnx, evidence, "cpu", seed, timings: timings);
            var seconds = new List<string>();
            var lines = new List<string>();
            var findings = new System.Text.Json.Nodes.JsonObject();
            var stagePeaks = new System.Collections.Concurrent.ConcurrentDictionary<string, double>(StringComparer.Ordinal);
            using var sampling = new CancellationTokenSource();
            Task sampler = breakdown ? Task.Run(() => Sample(timings, stagePeaks, sampling.Token)) : Task.CompletedTask;
            var total = Stopwatch.StartNew();
            // CPU time as well as wall time: on a shared machine the wall time measures the other processes.
            TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            string steps = "", refined = "";
            // --audit: the built-in trojan-scan profile's probes in its order, each at the profile's threshold, from the
            // version a submission gets by default (the latest) or --profile-version V. --probes a,b measures just those
            // (for example a probe added since, alone on the same model).
            string chosen = Value(args, "--probes", "");
            Dictionary<string, double?> thresholds = new(StringComparer.Ordinal) { ["neural-cleanse"] = 2 };
            string[] probes;
            if (chosen.Length > 0)
            {
                probes = chosen.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            }
            else if (audit)
            {
                Audit.Domain.Profiles.Profile scanProfile = TrojanScanProfile(Value(args, "--profile-version", ""));
                Console.WriteLine($"profile trojan-scan {scanProfile.Version}");
                // model-inventory is not in this catalog: in an audit it reads the inventory the upload made, in milliseconds.
                probes = [.. scanProfile.Controls.SelectMany(c => c.Probes).Select(p => p.Probe).Where(p => p != "model-inventory")];
                thresholds = scanProfile.Controls.SelectMany(c => c.Probes).ToDictionary(p => p.Probe, p => p.Threshold, StringComparer.Ordinal);
            }
            else
            {
                probes = ["neural-cleanse", "strip", "activation-clustering", "spectral-signatures"];
            }

            // VmHWM is reset before each probe (one probe's peak each); the process's peak is the largest of them.
            double overallPeak = PeakRssMiB();
            // As the service's worker does: every probe started at once (the session runs them in order, and a probe
            // that offers early work has it offered to the lanes of those before it), then awaited in order; a probe's
            // time is from the previous one's end to its own.
            Task<ProbeOutcome>[] runs = [.. probes.Select(probe => session.RunAsync(new ProbeInvocation(probe, new Dictionary<string, JsonElement>(), thresholds.GetValueOrDefault(probe)), new Progress<double>(), CancellationToken.None))];
            foreach ((string probe, Task<ProbeOutcome> run) in probes.Zip(runs))
            {
                ResetPeakRss();
                var clock = Stopwatch.StartNew();
                TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
                ProbeOutcome outcome = await run;
                seconds.Add(string.Create(CultureInfo.InvariantCulture, $"{probe}={clock.Elapsed.TotalSeconds:F1}"));
                overallPeak = Math.Max(overallPeak, PeakRssMiB());
                findings[probe] = new System.Text.Json.Nodes.JsonObject
                {
                    ["verdict"] = outcome.Verdict.ToString(),
                    ["score"] = outcome.Score,
                    ["summary"] = outcome.Summary,
                    ["details"] = outcome.Details.DeepClone(),
                };
                lines.Add(string.Create(
                    CultureInfo.InvariantCulture,
                    $"  probe {probe}: wall_s={clock.Elapsed.TotalSeconds:F2} cpu_s={(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F2} peak_rss_mib={PeakRssMiB():F0} verdict={outcome.Verdict} score={outcome.Score:R} statistic={outcome.Details["statistic"]?.ToJsonString()}"));
                if (probe == "neural-cleanse")
                {
                    steps = outcome.Details["steps"]?.ToJsonString() ?? "";
                    refined = outcome.Details["refinedClasses"] is { } r ? r.AsArray().Count.ToString(CultureInfo.InvariantCulture) : "all";
                    lines.Add($"  neural-cleanse maskNorms={outcome.Details["maskNorms"]?.ToJsonString()} suspected={outcome.Details["suspectedTargetClass"]?.ToJsonString()}");
                }
            }

            string findingsPath = Value(args, "--findings", "");
            if (findingsPath.Length > 0)
            {
                // Every probe's verdict, score and details, to compare two builds' numbers digit by digit.
                await File.WriteAllTextAsync(findingsPath, findings.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }

            double wall = total.Elapsed.TotalSeconds, cpuTotal = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds;
            await sampling.CancelAsync();
            await sampler;
            Console.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"classes={classes} shape={string.Join('x', shape)} params={parameters} wall_s={wall:F1} cpu_s={cpuTotal:F1} {string.Join(' ', seconds)} nc_steps={steps} refined={refined} peak_rss_mib={overallPeak:F0} load={Load()}"));
            if (breakdown)
            {
                lines.ForEach(Console.WriteLine);
                IReadOnlyDictionary<string, double> stageCpu = timings.StageCpuSeconds();
                foreach ((string stage, double s) in timings.StageSeconds().OrderBy(e => e.Key, StringComparer.Ordinal))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  stage {stage}: wall_s={s:F2} thread_cpu_s={stageCpu.GetValueOrDefault(stage, double.NaN):F2} max_rss_mib={stagePeaks.GetValueOrDefault(stage):F0}"));
                }

                Console.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"  phases: trigger_backward_s={timings.Seconds(Audit.Evaluators.Sessions.TimedPhase.TriggerBackward):F2} reference_forward_s={timings.Seconds(Audit.Evaluators.Sessions.TimedPhase.ReferenceForward):F2} reference_backward_s={timings.Seconds(Audit.Evaluators.Sessions.TimedPhase.ReferenceBackward):F2}"));
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Samples the resident memory every 20 ms and keeps, per running stage, the highest value seen.</summary>
    private static async Task Sample(ProbeTimings timings, System.Collections.Concurrent.ConcurrentDictionary<string, double> peaks, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            double rss = RssMiB();
            foreach (string stage in timings.ActiveStages())
            {
                peaks.AddOrUpdate(stage, rss, (_, known) => Math.Max(known, rss));
            }

            try
            {
                await Task.Delay(20, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static double RssMiB()
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)) : null;
        return line is null ? double.NaN : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
    }

    /// <summary>Resets the kernel's peak resident memory (VmHWM) to the current value, so the next read is one probe's peak.</summary>
    private static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
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

    /// <summary>The built-in trojan-scan profile at <paramref name="version"/>, or its latest version (a submission's default) when empty.</summary>
    private static Audit.Domain.Profiles.Profile TrojanScanProfile(string version)
    {
        var versions = Audit.Domain.Profiles.BuiltInProfiles.All.Where(p => p.Id == "trojan-scan").ToList();
        return version.Length > 0
            ? versions.SingleOrDefault(p => p.Version == version) ?? throw new ArgumentException($"No built-in trojan-scan {version}.", nameof(version))
            : versions.MaxBy(p => Version.Parse(p.Version))!;
    }

    private static float[] Values(string list) => [.. list.Split(':').Select(v => float.Parse(v, CultureInfo.InvariantCulture))];

    /// <summary>
    /// Writes <paramref name="from"/> reading <c>F · x + B</c> of its input, with one F and B for every channel or one per
    /// channel (the test library's writer; before 2026-12-07 a Mul, and an Add only where B was not 0, which computes the same).
    /// </summary>
    private static void ScaleInput(string from, string to, float[] factors, float[] shifts)
    {
        global::Onnx.ModelProto model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(from));
        File.WriteAllBytes(to, Google.Protobuf.MessageExtensions.ToByteArray(Audit.Testing.Onnx.InputMapExport.Prepended(model, factors, shifts)));
    }

    /// <summary>
    /// Writes <paramref name="from"/> with a <c>Mul</c> by <paramref name="factor"/> on its first output (after the node that
    /// writes it, keeping the output's name): the same network with its scores on another scale.
    /// </summary>
    private static void ScaleLogits(string from, string to, float factor)
    {
        global::Onnx.ModelProto model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(from));
        global::Onnx.GraphProto graph = model.Graph;
        string outer = graph.Output[0].Name, inner = outer + "_unscaled";
        foreach (global::Onnx.NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == outer)
                {
                    node.Output[i] = inner;
                }
            }
        }

        var constant = new global::Onnx.TensorProto { Name = "logit_scale", DataType = (int)global::Onnx.TensorProto.Types.DataType.Float };
        constant.FloatData.Add(factor);
        graph.Initializer.Add(constant);
        var mul = new global::Onnx.NodeProto { OpType = "Mul", Name = "scale_logits" };
        mul.Input.Add(inner);
        mul.Input.Add("logit_scale");
        mul.Output.Add(outer);
        graph.Node.Add(mul);
        File.WriteAllBytes(to, Google.Protobuf.MessageExtensions.ToByteArray(model));
    }

    /// <summary>
    /// Writes <paramref name="from"/> with a Softmax over its classes appended after its first output, which keeps its
    /// name (what a Keras softmax layer through tf2onnx, or a PyTorch forward returning probabilities, exports).
    /// </summary>
    private static void AppendSoftmax(string from, string to)
    {
        global::Onnx.ModelProto model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(from));
        File.WriteAllBytes(to, Google.Protobuf.MessageExtensions.ToByteArray(Audit.Testing.Onnx.FinalNormaliserExport.Appended(model, "Softmax", axis: 1)));
    }

    /// <summary>Writes <paramref name="from"/> cut down to <paramref name="classes"/> (the test library's writer; docs/probes.md, "Fewer than three classes").</summary>
    private static void KeepClasses(string from, string to, long[] classes)
    {
        global::Onnx.ModelProto model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(from));
        File.WriteAllBytes(to, Google.Protobuf.MessageExtensions.ToByteArray(Audit.Testing.Onnx.ClassSubsetExport.Kept(model, classes)));
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
