using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

[Collection(NativeTorch.Collection)]
public sealed class OnnxGraphTests
{
    internal static Sequential SmallCnn(int seed)
    {
        torch.manual_seed(seed);
        return nn.Sequential(
            ("conv1", nn.Conv2d(1, 4, 3, padding: 1)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(4, 8, 3)),
            ("relu2", nn.ReLU()),
            ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(288, 10)));
    }

    private static OnnxGraph Import(Sequential model) =>
        OnnxModelLoader.Load(SequentialOnnxExporter.Export(model, [1, 28, 28]).ToByteArray(), ComputeDevice.Cpu);

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance = 1e-5)
    {
        Assert.Equal(expected.shape, actual.shape);
        double error = (expected - actual).abs().max().item<float>();
        Assert.True(error <= tolerance, $"max abs difference {error}");
    }

    /// <summary>Both functions, differentiated with respect to the same input, give the same (non-zero) gradient.</summary>
    private static void AssertSameInputGradients(Func<Tensor, Tensor> expected, Func<Tensor, Tensor> actual, Tensor x, double tolerance = 1e-5)
    {
        Tensor x1 = x.detach().clone().requires_grad_(true);
        Tensor x2 = x.detach().clone().requires_grad_(true);
        expected(x1).backward();
        actual(x2).backward();
        Assert.True(x2.grad is not null && x2.grad.abs().sum().item<float>() > 0);
        AssertClose(x1.grad!, x2.grad!, tolerance);
    }

    /// <summary>
    /// Runs with a given libtorch thread count (libtorch picks different kernels, and so did the importer once).
    /// </summary>
    internal static void WithThreads(int threads, Action action)
    {
        int before = torch.get_num_threads();
        torch.set_num_threads(threads);
        try
        {
            action();
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void ImportedCnn_MatchesTheTorchSharpModule_OnABatch(int threads) => WithThreads(threads, () =>
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(1);
        using OnnxGraph graph = Import(model);
        Tensor x = torch.randn(8, 1, 28, 28); // large enough for the channels-last first convolution and separable pooling

        AssertClose(model.forward(x), graph.Forward(x));
        Assert.Equal(-1, graph.Inputs[0].Shape[0]);
        Assert.False(graph.ExportedWithFixedBatchOfOne);
    });

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Gradients_FlowBackToTheInput_AsInTheModule(int threads) => WithThreads(threads, () =>
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(2);
        using OnnxGraph graph = Import(model);
        AssertSameInputGradients(x => model.forward(x)[.., 3].sum(), x => graph.Forward(x)[.., 3].sum(), torch.randn(8, 1, 28, 28));
    });

    [Fact]
    public void Capture_ReturnsANamedIntermediateValue()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(3);
        using OnnxGraph graph = Import(model);
        Tensor x = torch.randn(2, 1, 28, 28);

        IReadOnlyDictionary<string, Tensor> result = graph.Run(new Dictionary<string, Tensor> { ["input"] = x }, capture: ["relu1"]);

        Assert.Contains("relu1", graph.ValueNames);
        var conv1 = (Conv2d)model.named_children().First(c => c.name == "conv1").module;
        AssertClose(conv1.forward(x).relu(), result["relu1"]);
        Assert.True(result.ContainsKey(graph.Outputs[0].Name));
    }

    [Fact]
    public void Replace_PatchesAnIntermediate_AndGradientsReachTheReplacement()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(4);
        using OnnxGraph graph = Import(model);
        Tensor x = torch.randn(2, 1, 28, 28);
        Tensor zeros = torch.zeros(2, 8, 12, 12).requires_grad_(true);

        IReadOnlyDictionary<string, Tensor> result = graph.Run(
            new Dictionary<string, Tensor> { ["input"] = x },
            capture: ["relu2"],
            replace: new Dictionary<string, Tensor> { ["relu2"] = zeros });

        // With relu2 zeroed, pooling and flattening give zeros, so the logits are the head's bias.
        var fc = (Linear)model.named_children().First(c => c.name == "fc").module;
        Tensor logits = result[graph.Outputs[0].Name];
        AssertClose(fc.bias!.expand(2, 10), logits);
        AssertClose(zeros, result["relu2"], 0);
        logits[.., 0].sum().backward();
        Assert.True(zeros.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void ReluBeforeMaxPool_IsPooledFirst_WithTheSameValuesAndInputGradients()
    {
        using var scope = torch.NewDisposeScope();
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, "N", 3, 9, 9);
        string relu = b.AddNode("Relu", [x]);
        string pool = b.AddNode("MaxPool", [relu], OnnxAttributes.Ints("kernel_shape", 3, 3), OnnxAttributes.Ints("strides", 2, 2), OnnxAttributes.Ints("pads", 1, 1, 1, 1));
        b.AddOutput(pool, ScalarType.Float32, "N", 3, 5, 5);
        using OnnxGraph graph = OnnxModelLoader.Load(b.ToBytes(), ComputeDevice.Cpu);
        // Mostly negative values, so that many windows hold no positive value at all; 15552 elements, enough
        // for the separable pooling when no gradient is recorded.
        Tensor input = torch.randn(64, 3, 9, 9).Sub(1);
        Tensor expected = nn.functional.max_pool2d(input.relu(), [3, 3], [2, 2], [1, 1]);

        Assert.Equal(1, graph.PlannedNodeCount);
        AssertClose(expected, graph.Forward(input), 0);
        using (torch.no_grad())
        {
            AssertClose(expected, graph.Forward(input), 0);
        }

        // Capturing the value the rewrite skips runs the plain plan, which computes it.
        IReadOnlyDictionary<string, Tensor> plain = graph.Run(new Dictionary<string, Tensor> { [x] = input }, capture: [relu]);
        AssertClose(input.relu(), plain[relu], 0);
        AssertClose(expected, plain[pool], 0);

        // Under autograd pooling comes first only on channels-last input (NCHW keeps the original order).
        Tensor weights = HeldScalars.Arange(75, ScalarType.Float32).reshape(3, 5, 5);
        Tensor channelsLast = input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
        foreach (Tensor layout in new[] { input, channelsLast })
        {
            AssertSameInputGradients(x => nn.functional.max_pool2d(x.relu(), [3, 3], [2, 2], [1, 1]).mul(weights).sum(), x => graph.Forward(x).mul(weights).sum(), layout, 0);
        }
    }

    [Fact]
    public void ReluWithAnotherConsumer_IsNotReordered_AndBothValuesAreRight()
    {
        using var scope = torch.NewDisposeScope();
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, "N", 2, 8, 8);
        string relu = b.AddNode("Relu", [x]);
        string pool = b.AddNode("MaxPool", [relu], OnnxAttributes.Ints("kernel_shape", 2, 2), OnnxAttributes.Ints("strides", 2, 2));
        b.AddOutput(pool, ScalarType.Float32, "N", 2, 4, 4);
        b.AddOutput(relu, ScalarType.Float32, "N", 2, 8, 8);
        using OnnxGraph graph = OnnxModelLoader.Load(b.ToBytes(), ComputeDevice.Cpu);
        Tensor input = torch.randn(64, 2, 8, 8);

        IReadOnlyDictionary<string, Tensor> result = graph.Run(new Dictionary<string, Tensor> { [x] = input });

        Assert.Equal(2, graph.PlannedNodeCount);
        AssertClose(input.relu(), result[relu], 0);
        AssertClose(nn.functional.max_pool2d(input.relu(), 2), result[pool], 0);
    }

    [Fact]
    public void BatchNormAfterConv_IsFoldedIntoIt_WithTheModulesValuesAndInputGradients()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(12);
        using Sequential model = nn.Sequential(
            ("conv1", nn.Conv2d(1, 6, 3, padding: 1)),
            ("bn1", HeldScalars.BatchNorm2d(6)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc", nn.Linear(6 * 14 * 14, 10)));
        var bn = (BatchNorm2d)model.named_children().First(c => c.name == "bn1").module;
        using (torch.no_grad())
        {
            // Statistics far from the identity, so that an unfolded or wrongly folded norm shows.
            bn.running_mean!.copy_(torch.randn(6));
            bn.running_var!.copy_(torch.rand(6).Add(0.2));
            bn.weight!.copy_(torch.randn(6));
            bn.bias!.copy_(torch.randn(6));
        }

        model.eval();
        using OnnxGraph graph = Import(model);
        Tensor x = torch.randn(16, 1, 28, 28);
        var conv1 = (Conv2d)model.named_children().First(c => c.name == "conv1").module;

        Assert.Equal(graph.NodeCount - 2, graph.PlannedNodeCount); // BatchNormalization and Relu are gone
        AssertClose(model.forward(x), graph.Forward(x));
        IReadOnlyDictionary<string, Tensor> plain = graph.Run(new Dictionary<string, Tensor> { ["input"] = x }, capture: ["conv1", "bn1"]);
        AssertClose(conv1.forward(x), plain["conv1"]);
        AssertClose(bn.forward(conv1.forward(x)), plain["bn1"]);

        AssertSameInputGradients(x => model.forward(x)[.., 2].sum(), x => graph.Forward(x)[.., 2].sum(), x);
    }

    [Fact]
    public void ChannelsLastIntermediates_LeaveTheGraphContiguous()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(9);
        using OnnxGraph graph = Import(model);
        Tensor x = torch.randn(16, 1, 28, 28); // 12544 output positions: the first convolution runs channels-last
        var conv1 = (Conv2d)model.named_children().First(c => c.name == "conv1").module;

        IReadOnlyDictionary<string, Tensor> result = graph.Run(new Dictionary<string, Tensor> { ["input"] = x }, capture: ["conv1"]);

        Assert.Equal(graph.NodeCount - 2, graph.PlannedNodeCount); // both Relu+MaxPool pairs are pooled first
        Assert.True(result["conv1"].is_contiguous());
        AssertClose(conv1.forward(x), result["conv1"].view(16, 4, 28, 28));
        AssertClose(model.forward(x), result[graph.Outputs[0].Name]);
    }

    [Fact]
    public void Run_WithAnUnknownCaptureName_IsRefused()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(5);
        using OnnxGraph graph = Import(model);

        ArgumentException error = Assert.Throws<ArgumentException>(() =>
            graph.Run(new Dictionary<string, Tensor> { ["input"] = torch.randn(1, 1, 28, 28) }, capture: ["no_such_value"]));
        Assert.Contains("no_such_value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Run_WithAnInputOfTheWrongTypeOrImageSize_IsRefusedClearly()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(8);
        using OnnxGraph graph = Import(model);

        ArgumentException wrongType = Assert.Throws<ArgumentException>(() => graph.Forward(torch.zeros(2, 1, 28, 28, ScalarType.Float64)));
        ArgumentException wrongSize = Assert.Throws<ArgumentException>(() => graph.Forward(torch.zeros(2, 1, 32, 32)));

        Assert.Contains("Float32", wrongType.Message, StringComparison.Ordinal);
        Assert.Contains("[N, 1, 28, 28]", wrongSize.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A model exported at batch 1 with baked shapes: Conv → Reshape [1, 2, -1] → Transpose [0, 2, 1] →
    /// Reshape [1, -1] → Gemm. Rows of a batched run must equal one-sample runs.
    /// </summary>
    [Fact]
    public void FixedBatchOfOneModel_WithBakedReshapes_RunsOnBatchesCorrectly()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(6);
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, 1, 1, 4, 4);
        string conv = b.AddNode("Conv", [x, b.AddInitializer("w", torch.randn(2, 1, 3, 3)), b.AddInitializer("b", torch.randn(2))], OnnxAttributes.Ints("pads", 1, 1, 1, 1));
        string r1 = b.AddNode("Reshape", [conv, b.AddInitializer("s1", [1, 2, -1], 3)]);
        string t = b.AddNode("Transpose", [r1], OnnxAttributes.Ints("perm", 0, 2, 1));
        string r2 = b.AddNode("Reshape", [t, b.AddInitializer("s2", [1, -1], 2)]);
        string y = b.AddNode("Gemm", [r2, b.AddInitializer("fc", torch.randn(5, 32))], OnnxAttributes.Int("transB", 1));
        b.AddOutput(y, ScalarType.Float32, 1, 5);
        using OnnxGraph graph = OnnxModelLoader.Load(b.ToBytes(), ComputeDevice.Cpu);
        Tensor batch = torch.randn(3, 1, 4, 4);

        Tensor batched = graph.Forward(batch);

        Assert.True(graph.ExportedWithFixedBatchOfOne);
        Assert.Equal(new long[] { 3, 5 }, batched.shape);
        for (int n = 0; n < 3; n++)
        {
            AssertClose(graph.Forward(batch[n..(n + 1)]), batched[n..(n + 1)]);
        }
    }

    [Fact]
    public void FixedBatchOfOneRule_LeavesReshapesOfWeightsAlone()
    {
        using var scope = torch.NewDisposeScope();
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, 1, 6);
        string c = b.AddNode("Reshape", [b.AddInitializer("c", HeldScalars.Arange(6, ScalarType.Float32).reshape(3, 2)), b.AddInitializer("s", [1, -1], 2)]);
        string y = b.AddNode("Add", [x, c]);
        b.AddOutput(y, ScalarType.Float32, 1, 6);
        using OnnxGraph graph = OnnxModelLoader.Load(b.ToBytes(), ComputeDevice.Cpu);

        Tensor result = graph.Forward(torch.zeros(4, 6));

        AssertClose(HeldScalars.Arange(6, ScalarType.Float32).expand(4, 6), result, 0);
    }

    [Fact]
    public void OperatorSupport_AnswersPerDomainAndOpset()
    {
        Assert.True(OnnxOperatorSupport.IsSupported("Conv", "", 17));
        Assert.True(OnnxOperatorSupport.IsSupported("Conv", "ai.onnx", 11));
        Assert.False(OnnxOperatorSupport.IsSupported("Conv", "com.microsoft", 17));
        Assert.False(OnnxOperatorSupport.IsSupported("LayerNormalization", "", 16));
        Assert.True(OnnxOperatorSupport.IsSupported("LayerNormalization", "", 17));
        Assert.False(OnnxOperatorSupport.IsSupported("NonMaxSuppression", "", 17));
    }

    [Fact]
    public void ModelSource_ImportsOnce_AndCaches()
    {
        using var scope = torch.NewDisposeScope();
        using Sequential model = SmallCnn(7);
        string path = Path.Combine(Path.GetTempPath(), $"audit-onnx-{Guid.NewGuid():N}.onnx");
        SequentialOnnxExporter.Save(model, [1, 28, 28], path);
        using var source = new OnnxModelSource(path, ComputeDevice.Cpu);

        IDifferentiableModel first = source.Load(CancellationToken.None);
        File.Delete(path);
        IDifferentiableModel second = source.Load(CancellationToken.None);

        Assert.Same(first, second);
        Assert.Equal("cpu", second.Device.Name);
    }
}
