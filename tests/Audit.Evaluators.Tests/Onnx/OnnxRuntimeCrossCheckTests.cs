using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Audit.Evaluators.Tests.Onnx;

/// <summary>The imported graph against a second executor, ONNX Runtime, to 1e-4 relative.</summary>
[Collection(NativeTorch.Collection)]
public sealed class OnnxRuntimeCrossCheckTests
{
    private const double RelativeTolerance = 1e-4;

    // Relative error is meaningless at exact zeros; below this magnitude differences are compared absolutely.
    private const double AbsoluteFloor = 1e-6;

    [Fact]
    public void PytorchExportedModels_MatchOnnxRuntime()
    {
        string root = OnnxConformance.RequireDataRoot();
        List<string> mismatches = [];
        int compared = 0;
        List<string> ortCannotRun = [];
        IEnumerable<string> dirs = new[] { "pytorch-converted", "pytorch-operator" }
            .SelectMany(f => Directory.GetDirectories(Path.Combine(root, f)).Order(StringComparer.Ordinal));
        foreach (string dir in dirs)
        {
            using var scope = torch.NewDisposeScope();
            byte[] bytes = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
            using OnnxGraph graph = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu);
            string set = Path.Combine(dir, "test_data_set_0");
            Dictionary<string, Tensor> inputs = [];
            for (int k = 0; k < graph.Inputs.Count; k++)
            {
                inputs[graph.Inputs[k].Name] = OnnxTensors.ReadTensorFile(Path.Combine(set, $"input_{k}.pb"), CPU);
            }

            string? mismatch;
            try
            {
                mismatch = CompareWithOnnxRuntime(bytes, graph, inputs);
            }
            catch (OnnxRuntimeException e) when (e.Message.Contains("NotImplemented", StringComparison.Ordinal))
            {
                // ONNX Runtime dropped kernels for some pre-opset-7 operators these old exports use.
                ortCannotRun.Add(Path.GetFileName(dir));
                continue;
            }

            if (mismatch is not null)
            {
                mismatches.Add($"{Path.GetFileName(dir)}: {mismatch}");
            }

            compared++;
        }

        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
        Assert.True(compared >= 80, $"only {compared} models compared; ONNX Runtime could not run: {string.Join(", ", ortCannotRun)}");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ExportedFixtureCnn_MatchesOnnxRuntime_AtBatch1And64(int threads) => OnnxGraphTests.WithThreads(threads, () =>
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = OnnxGraphTests.SmallCnn(11);
        byte[] bytes = SequentialOnnxExporter.Export(model, [1, 28, 28]).ToByteArray();
        using OnnxGraph graph = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu);

        foreach (int batch in new[] { 1, 64 })
        {
            var inputs = new Dictionary<string, Tensor> { [graph.Inputs[0].Name] = torch.rand(batch, 1, 28, 28) };
            Assert.Null(CompareWithOnnxRuntime(bytes, graph, inputs));
        }
    });

    /// <summary>Runs both executors on the same inputs; returns a description of the first mismatch, or null.</summary>
    internal static string? CompareWithOnnxRuntime(byte[] model, OnnxGraph graph, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var options = new SessionOptions { IntraOpNumThreads = 2, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        List<NamedOnnxValue> feeds = [.. inputs.Select(i => ToOrt(i.Key, i.Value))];
        using IDisposableReadOnlyCollection<DisposableNamedOnnxValue> expected = session.Run(feeds);
        IReadOnlyDictionary<string, Tensor> actual;
        using (torch.no_grad())
        {
            actual = graph.Run(inputs);
        }

        foreach (DisposableNamedOnnxValue e in expected)
        {
            Tensor a = actual[e.Name].detach().cpu().to_type(ScalarType.Float64);
            double[] av = a.data<double>().ToArray();
            (double[] ev, long[] shape) = e.Value switch
            {
                DenseTensor<float> f => (f.Buffer.ToArray().Select(v => (double)v).ToArray(), Dims(f.Dimensions)),
                DenseTensor<long> l => (l.Buffer.ToArray().Select(v => (double)v).ToArray(), Dims(l.Dimensions)),
                DenseTensor<double> d => (d.Buffer.ToArray(), Dims(d.Dimensions)),
                DenseTensor<int> n => (n.Buffer.ToArray().Select(v => (double)v).ToArray(), Dims(n.Dimensions)),
                _ => throw new InvalidOperationException($"Output '{e.Name}' has an element type this check does not read."),
            };
            if (!shape.SequenceEqual(a.shape) || av.Length != ev.Length)
            {
                return $"output '{e.Name}' shape [{string.Join(",", a.shape)}], ONNX Runtime [{string.Join(",", shape)}]";
            }

            for (int k = 0; k < av.Length; k++)
            {
                double tolerance = RelativeTolerance * Math.Max(Math.Abs(ev[k]), AbsoluteFloor / RelativeTolerance);
                if (Math.Abs(av[k] - ev[k]) > tolerance && !(double.IsNaN(av[k]) && double.IsNaN(ev[k])))
                {
                    return $"output '{e.Name}' element {k}: {av[k]} vs ONNX Runtime {ev[k]}";
                }
            }
        }

        return null;
    }

    private static long[] Dims(ReadOnlySpan<int> dims) => [.. dims.ToArray().Select(d => (long)d)];

    private static NamedOnnxValue ToOrt(string name, Tensor t)
    {
        Tensor c = t.detach().cpu().contiguous();
        int[] dims = [.. c.shape.Select(d => (int)d)];
        return c.dtype switch
        {
            ScalarType.Float32 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(c.data<float>().ToArray(), dims)),
            ScalarType.Float64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<double>(c.data<double>().ToArray(), dims)),
            ScalarType.Int64 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(c.data<long>().ToArray(), dims)),
            ScalarType.Int32 => NamedOnnxValue.CreateFromTensor(name, new DenseTensor<int>(c.data<int>().ToArray(), dims)),
            _ => throw new InvalidOperationException($"Input '{name}' has element type {c.dtype}, which this check does not feed."),
        };
    }
}
