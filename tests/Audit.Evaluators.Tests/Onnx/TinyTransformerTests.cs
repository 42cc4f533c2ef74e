using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using TorchSharp;
using static TorchSharp.torch;
using A = Audit.Testing.Onnx.OnnxAttributes;
using AttributeProto = global::Onnx.AttributeProto;

namespace Audit.Evaluators.Tests.Onnx;

/// <summary>
/// A small decoder-only transformer graph written the way PyTorch exports one (opset 20): token and position
/// embeddings via Gather, shape arithmetic (Shape/Gather/Range/Concat/ConstantOfShape), a causal mask via
/// Trilu/Equal/Where, multi-head attention with Reshape(0, -1)/Transpose/broadcast MatMul/Softmax,
/// LayerNormalization, Gelu, a ReduceMean pool and a Gemm head, with symbolic batch and sequence length.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class TinyTransformerTests
{
    private const int Vocabulary = 11;
    private const int Width = 8;
    private const string Residual = "residual.attention";

    private static byte[] BuildModel()
    {
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(21);
        var b = new OnnxGraphBuilder("tiny-transformer", 20);
        Tensor W(params long[] shape) => torch.randn(shape).Mul(0.5);
        string Init(string name, Tensor t) => b.AddInitializer(name, t);
        string Ints(string name, params long[] v) => b.AddInitializer(name, v, v.Length);
        string Node(string op, string[] inputs, params AttributeProto[] attributes) => b.AddNode(op, inputs, attributes);

        string tokens = b.AddInput("tokens", ScalarType.Int64, "B", "T");
        string embedded = Node("Gather", [Init("embedding", W(Vocabulary, Width)), tokens]);
        string shape = Node("Shape", [tokens]);
        string length = Node("Gather", [shape, b.AddInitializer("one", [1L])]);
        string positions = Node("Range", [b.AddInitializer("zero", [0L]), length, b.AddInitializer("step", [1L])]);
        string h = Node("Add", [embedded, Node("Gather", [Init("positional", W(16, Width)), positions])], []);

        string ln1 = Node("LayerNormalization", [h, Init("ln1.g", torch.ones(Width)), Init("ln1.b", torch.zeros(Width))], A.Int("axis", -1));
        string qkv = Node("Add", [Node("MatMul", [ln1, Init("qkv.w", W(Width, 3 * Width))]), Init("qkv.b", W(3 * Width))]);
        IReadOnlyList<string> split = b.AddNode("Split", [qkv, Ints("split", Width, Width, Width)], 3, A.Int("axis", -1));
        string Heads(string x, params long[] perm) => Node("Transpose", [Node("Reshape", [x, Ints($"heads.{x}", 0, 0, 2, 4)])], A.Ints("perm", perm));
        string q = Heads(split[0], 0, 2, 1, 3);
        string k = Heads(split[1], 0, 2, 3, 1);
        string v = Heads(split[2], 0, 2, 1, 3);
        string scores = Node("Div", [Node("MatMul", [q, k]), b.AddInitializer("scale", [2f])]);

        string square = Node("Concat", [Node("Unsqueeze", [length, Ints("axis0", 0)]), Node("Unsqueeze", [length, Ints("axis0b", 0)])], A.Int("axis", 0));
        string ones = Node("ConstantOfShape", [square], A.Tensor("value", torch.ones(1)));
        string lower = Node("Trilu", [ones], A.Int("upper", 0));
        string masked = Node("Where", [Node("Equal", [lower, b.AddInitializer("zerof", [0f])]), b.AddInitializer("minus", [-1e9f]), scores]);
        string attention = Node("Softmax", [masked], A.Int("axis", -1));
        string merged = Node("Reshape", [Node("Transpose", [Node("MatMul", [attention, v])], A.Ints("perm", 0, 2, 1, 3)), Ints("merge", 0, 0, -1)]);
        string projected = Node("Add", [Node("MatMul", [merged, Init("proj.w", W(Width, Width))]), Init("proj.b", W(Width))]);
        string h2 = b.AddNode("Add", [h, projected], [Residual], "")[0];

        string ln2 = Node("LayerNormalization", [h2, Init("ln2.g", torch.ones(Width).Mul(1.1)), Init("ln2.b", W(Width))], A.Int("axis", -1));
        string hidden = Node("Gelu", [Node("Add", [Node("MatMul", [ln2, Init("mlp1.w", W(Width, 16))]), Init("mlp1.b", W(16))])]);
        string h3 = Node("Add", [h2, Node("MatMul", [hidden, Init("mlp2.w", W(16, Width))])]);
        string pooled = Node("ReduceMean", [h3, Ints("time", 1)], A.Int("keepdims", 0));
        string logits = Node("Gemm", [pooled, Init("head.w", W(4, Width)), Init("head.b", W(4))], A.Int("transB", 1));
        b.AddNode("Identity", [logits], ["logits"], "");
        b.AddOutput("logits", ScalarType.Float32, "B", 4);
        return b.ToBytes();
    }

    [Fact]
    public void TinyTransformer_MatchesOnnxRuntime_OnDynamicBatchAndLength()
    {
        using var scope = torch.NewDisposeScope();
        byte[] bytes = BuildModel();
        using OnnxGraph graph = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu);

        foreach ((int batch, int length) in new[] { (1, 1), (3, 5), (2, 9) })
        {
            var inputs = new Dictionary<string, Tensor> { ["tokens"] = torch.randint(0, Vocabulary, [batch, length], ScalarType.Int64) };
            Assert.Null(OnnxRuntimeCrossCheckTests.CompareWithOnnxRuntime(bytes, graph, inputs));
        }
    }

    [Fact]
    public void TinyTransformer_IsCausal_PatchingALaterTokenLeavesEarlierResidualsUnchanged()
    {
        using var scope = torch.NewDisposeScope();
        using OnnxGraph graph = OnnxModelLoader.Load(BuildModel(), ComputeDevice.Cpu);
        Tensor tokens = torch.tensor(new long[] { 1, 2, 3, 4, 5, 6 }, [1, 6]);
        string residual = Residual;
        Tensor changed = tokens.clone();
        changed[0, 5] = torch.tensor(9L);
        Tensor before = graph.Run(new Dictionary<string, Tensor> { ["tokens"] = tokens }, capture: [residual])[residual];
        Tensor after = graph.Run(new Dictionary<string, Tensor> { ["tokens"] = changed }, capture: [residual])[residual];

        Assert.Equal(0, (before[.., ..5] - after[.., ..5]).abs().max().item<float>(), 6);
        Assert.True((before[.., 5] - after[.., 5]).abs().max().item<float>() > 1e-3);
    }

}
