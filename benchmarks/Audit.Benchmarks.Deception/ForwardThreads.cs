using System.Diagnostics;
using System.Globalization;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using TorchSharp;

/// <summary>
/// Wall and process CPU seconds of no-grad forward passes of an imported sequence model at one libtorch thread count:
/// whether a deception probe would gain from the host's threads on a large model (the lanes give each one thread).
/// </summary>
internal static class ForwardThreads
{
    public static int Run(string modelPath, int threads, int rows, int length, int passes)
    {
        torch.set_num_threads(threads);
        using OnnxGraph graph = OnnxModelLoader.Load(modelPath, ComputeDevice.Cpu);
        using var noGrad = torch.no_grad();
        var generator = new torch.Generator(1);
        var inputs = new Dictionary<string, torch.Tensor>(StringComparer.Ordinal);
        foreach (ValueSpec input in graph.Inputs)
        {
            inputs[input.Name] = input.Name.Contains("mask", StringComparison.OrdinalIgnoreCase)
                ? torch.ones(rows, length, dtype: input.ElementType)
                : input.Name.Contains("position", StringComparison.OrdinalIgnoreCase)
                    ? HeldScalars.Arange(length, input.ElementType).unsqueeze(0).expand(rows, length).contiguous()
                    : torch.randint(100, [rows, length], dtype: input.ElementType, generator: generator);
        }

        _ = graph.Run(inputs); // warm-up
        using Process self = Process.GetCurrentProcess();
        self.Refresh();
        TimeSpan cpu = self.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < passes; i++)
        {
            using var scope = torch.NewDisposeScope();
            _ = graph.Run(inputs);
        }

        self.Refresh();
        double wall = clock.Elapsed.TotalSeconds, used = (self.TotalProcessorTime - cpu).TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"threads {threads}: {passes} passes of {rows} x {length} tokens, {wall / passes:F2} s wall and {used / passes:F2} CPU-s per pass, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
        return 0;
    }
}
