using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

namespace Audit.Evaluators.Tests.Onnx;

/// <summary>
/// ONNX Runtime's com.microsoft transformer operators, imported, against ONNX Runtime 1.31 itself on small random
/// single-node graphs, to 1e-4 relative.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class MicrosoftContribOperatorTests
{
    [Fact]
    public void GeluFamily_MatchesOnnxRuntime()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(1);
        Tensor x = torch.randn(2, 3, 8).Mul(3), bias = torch.randn(8);
        Check(new ContribGraph("Gelu").Input("x", x).Output("y"), ("x", x));
        Check(new ContribGraph("BiasGelu").Input("x", x).Weight("b", bias).Output("y"), ("x", x));
        Check(new ContribGraph("FastGelu").Input("x", x).Weight("b", bias).Output("y"), ("x", x));
        Check(new ContribGraph("FastGelu").Input("x", x).Output("y"), ("x", x));
    }

    [Fact]
    public void SkipLayerNormalization_WithBetaAndBias_MatchesOnnxRuntime()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(2);
        Tensor x = torch.randn(2, 5, 16), skip = torch.randn(2, 5, 16);
        ContribGraph graph = new ContribGraph("SkipLayerNormalization").Input("x", x).Input("skip", skip)
            .Weight("gamma", torch.randn(16)).Weight("beta", torch.randn(16)).Weight("bias", torch.randn(16))
            .Float("epsilon", 1e-5f).Output("y").Output("").Output("").Output("sum");
        Check(graph, ("x", x), ("skip", skip));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EmbedLayerNormalization_MatchesOnnxRuntime(bool withMask)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        Tensor ids = torch.randint(0, 30, [2, 6], dtype: ScalarType.Int32), segments = torch.randint(0, 2, [2, 6], dtype: ScalarType.Int32);
        Tensor mask = torch.tensor(new[] { 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1 }, [2, 6], dtype: ScalarType.Int32);
        ContribGraph graph = new ContribGraph("EmbedLayerNormalization").Input("ids", ids).Input("segments", segments)
            .Weight("words", torch.randn(30, 12)).Weight("positions", torch.randn(16, 12)).Weight("segment_table", torch.randn(2, 12))
            .Weight("gamma", torch.randn(12)).Weight("beta", torch.randn(12)).Float("epsilon", 1e-5f).Output("y").Output("mask_index");
        List<(string, Tensor)> feeds = [("ids", ids), ("segments", segments)];
        if (withMask)
        {
            graph.Input("mask", mask);
            feeds.Add(("mask", mask));
        }

        Check(graph, [.. feeds]);
    }

    [Theory]
    [InlineData("raw")]
    [InlineData("lengths")]
    [InlineData("none")]
    public void Attention_Bidirectional_MatchesOnnxRuntime(string maskKind)
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(4);
        Tensor x = torch.randn(2, 5, 8);
        ContribGraph graph = new ContribGraph("Attention").Input("x", x).Weight("w", torch.randn(8, 24).Mul(0.5)).Weight("b", torch.randn(24))
            .Int("num_heads", 2).Output("y");
        List<(string, Tensor)> feeds = [("x", x)];
        Tensor? mask = maskKind switch
        {
            "raw" => torch.tensor(new[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1 }, [2, 5], dtype: ScalarType.Int32),
            "lengths" => torch.tensor(new[] { 3, 5 }, dtype: ScalarType.Int32),
            _ => null,
        };
        if (mask is not null)
        {
            graph.Input("mask", mask);
            feeds.Add(("mask", mask));
        }

        Check(graph, [.. feeds]);
    }

    [Fact]
    public void Attention_UnidirectionalWithPast_MatchesOnnxRuntime()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        Tensor x = torch.randn(2, 3, 8), past = torch.randn([2, 2, 2, 4, 4]);
        Tensor mask = torch.ones(2, 7, dtype: ScalarType.Int32);
        ContribGraph graph = new ContribGraph("Attention").Input("x", x).Weight("w", torch.randn(8, 24).Mul(0.5)).Weight("b", torch.randn(24))
            .Input("mask", mask).Input("past", past).Int("num_heads", 2).Int("unidirectional", 1).Output("y").Output("present");
        Check(graph, ("x", x), ("mask", mask), ("past", past));
    }

    [Fact]
    public void MultiHeadAttention_WithBiasAndKeyPaddingMask_MatchesOnnxRuntime()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(6);
        Tensor q = torch.randn(2, 4, 8), k = torch.randn(2, 6, 8), v = torch.randn(2, 6, 8);
        Tensor mask = torch.tensor(new[] { 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1 }, [2, 6], dtype: ScalarType.Int32);
        ContribGraph graph = new ContribGraph("MultiHeadAttention").Input("q", q).Input("k", k).Input("v", v).Weight("b", torch.randn(24))
            .Input("mask", mask).Int("num_heads", 2).Output("y");
        Check(graph, ("q", q), ("k", k), ("v", v), ("mask", mask));
    }

    [Fact]
    public void Attention_GradientReachesTheInput()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(7);
        Tensor x = torch.randn(1, 4, 8);
        using OnnxGraph graph = OnnxModelLoader.Load(
            new ContribGraph("Attention").Input("x", x).Weight("w", torch.randn(8, 24)).Weight("b", torch.randn(24)).Int("num_heads", 2).Output("y").Build().ToByteArray(),
            ComputeDevice.Cpu);
        Tensor input = x.clone().requires_grad_(true);
        graph.Run(new Dictionary<string, Tensor> { ["x"] = input })["y"].Square().sum().backward();

        Assert.NotNull(input.grad);
        Assert.True(input.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void Import_OfAnUnimplementedMicrosoftOperator_NamesItAndHowToExportWithoutIt()
    {
        ModelProto model = new ContribGraph("QAttention").Input("x", torch.zeros(1, 2)).Output("y").Build();

        UnsupportedOperatorException error = Assert.Throws<UnsupportedOperatorException>(() => OnnxModelLoader.Load(model.ToByteArray(), ComputeDevice.Cpu));

        Assert.Equal(["com.microsoft.QAttention"], error.Unsupported);
        Assert.Contains("com.microsoft.QAttention", error.Message, StringComparison.Ordinal);
        Assert.Contains("--optimize", error.Message, StringComparison.Ordinal);
    }

    private static void Check(ContribGraph graph, params (string Name, Tensor Value)[] inputs)
    {
        byte[] bytes = graph.Build().ToByteArray();
        using OnnxGraph imported = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu);
        string? mismatch = OnnxRuntimeCrossCheckTests.CompareWithOnnxRuntime(bytes, imported, inputs.ToDictionary(i => i.Name, i => i.Value));
        Assert.True(mismatch is null, $"{graph.OpType}: {mismatch}");
    }
}

/// <summary>A one-node com.microsoft graph: graph inputs, float initializers and attributes, in input order.</summary>
internal sealed class ContribGraph(string opType)
{
    private readonly NodeProto _node = new() { OpType = opType, Domain = "com.microsoft", Name = opType.ToLowerInvariant() };
    private readonly GraphProto _graph = new() { Name = "contrib" };

    public string OpType { get; } = opType;

    public ContribGraph Input(string name, Tensor value)
    {
        _node.Input.Add(name);
        _graph.Input.Add(Declare(name, value.dtype == ScalarType.Int32 ? 6 : 1, value.shape));
        return this;
    }

    public ContribGraph Weight(string name, Tensor value)
    {
        _node.Input.Add(name);
        var proto = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(value.contiguous().bytes) };
        proto.Dims.AddRange(value.shape);
        _graph.Initializer.Add(proto);
        return this;
    }

    public ContribGraph Int(string name, long value)
    {
        _node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });
        return this;
    }

    public ContribGraph Float(string name, float value)
    {
        _node.Attribute.Add(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });
        return this;
    }

    public ContribGraph Output(string name)
    {
        _node.Output.Add(name);
        if (name.Length > 0)
        {
            _graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = name == "mask_index" ? 6 : 1 } } });
        }

        return this;
    }

    public ModelProto Build()
    {
        var graph = _graph.Clone();
        graph.Node.Add(_node.Clone());
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "contrib-test" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }

    private static ValueInfoProto Declare(string name, int type, long[] shape)
    {
        var dims = new TensorShapeProto();
        foreach (long d in shape)
        {
            dims.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type, Shape = dims } } };
    }
}
