using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Runs one node: receives its inputs (null where an optional input is absent), returns its outputs in order.</summary>
internal delegate Tensor[] OnnxKernel(Tensor?[] inputs);

/// <summary>Everything an operator needs at import time to compile a node into a kernel.</summary>
internal sealed class NodeContext
{
    private readonly Dictionary<string, AttributeProto> _attributes;

    public NodeContext(NodeProto node, int opset, Device device, bool firstInputCarriesBatch, OnnxImportLimits limits)
    {
        Node = node;
        Opset = opset;
        Device = device;
        FirstInputCarriesBatch = firstInputCarriesBatch;
        Limits = limits;
        _attributes = [];
        foreach (AttributeProto a in node.Attribute)
        {
            _attributes[a.Name] = a;
        }
    }

    public NodeProto Node { get; }

    public int Opset { get; }

    public Device Device { get; }

    public OnnxImportLimits Limits { get; }

    /// <summary>
    /// True when the graph was exported with a fixed batch of 1 and batch analysis proved that dimension 0 of
    /// the first input is the batch (see <see cref="BatchDimensionAnalysis"/>).
    /// </summary>
    public bool FirstInputCarriesBatch { get; }

    public string Describe => $"{Node.OpType} node '{Node.Name}'";

    public bool Has(string name) => _attributes.ContainsKey(name);

    public long Int(string name, long fallback) => _attributes.TryGetValue(name, out AttributeProto? a) ? a.I : fallback;

    public float Float(string name, float fallback) => _attributes.TryGetValue(name, out AttributeProto? a) ? a.F : fallback;

    public string String(string name, string fallback) =>
        _attributes.TryGetValue(name, out AttributeProto? a) ? a.S.ToStringUtf8() : fallback;

    public long[]? Ints(string name) => _attributes.TryGetValue(name, out AttributeProto? a) ? [.. a.Ints] : null;

    public float[]? Floats(string name) => _attributes.TryGetValue(name, out AttributeProto? a) ? [.. a.Floats] : null;

    public AttributeProto? Attribute(string name) => _attributes.GetValueOrDefault(name);

    public bool HasInput(int index) => index < Node.Input.Count && Node.Input[index].Length > 0;

    public bool HasOutput(int index) => index < Node.Output.Count && Node.Output[index].Length > 0;

    public int OutputCount => Node.Output.Count;

    /// <summary>An attribute tensor, converted under the import limits.</summary>
    public Tensor AttributeTensor(TensorProto proto) => OnnxTensors.ToTensor(proto, Device, Limits);

    /// <summary>Tensors made at import time (constants) that the graph owns and disposes.</summary>
    public List<Tensor> Owned { get; } = [];

    /// <summary>Takes a tensor out of any dispose scope and hands it to the graph.</summary>
    public Tensor Keep(Tensor t)
    {
        t.DetachFromDisposeScope();
        Owned.Add(t);
        return t;
    }

    public UnsupportedOperatorException Unsupported(string variant) =>
        new([$"{Node.OpType} (opset {Opset}): {variant}"]);
}

/// <summary>Small helpers shared by operator families.</summary>
internal static class Kernels
{
    /// <summary>Reads a shape-valued tensor (a shape, axes, pads...) to the host. Only for genuinely shape-valued inputs.</summary>
    public static long[] Longs(Tensor t)
    {
        using Tensor host = t.to_type(ScalarType.Int64).cpu();
        return host.data<long>().ToArray();
    }

    public static double Scalar(Tensor t)
    {
        using Tensor host = t.to_type(ScalarType.Float64).cpu();
        return host.data<double>()[0];
    }

    /// <summary>Normalizes a possibly negative axis against a rank.</summary>
    public static long Axis(long axis, long rank) => axis < 0 ? axis + rank : axis;

    public static bool IsFloating(ScalarType t) =>
        t is ScalarType.Float32 or ScalarType.Float64 or ScalarType.Float16 or ScalarType.BFloat16;

    /// <summary>Removes the given size-1 dimensions.</summary>
    public static Tensor DropDims(Tensor t, long[] dims) => t.reshape([.. t.shape.Where((_, d) => !dims.Contains(d))]);

    /// <summary>NumPy-style broadcast of two shapes (ONNX multidirectional broadcasting).</summary>
    public static long[] Broadcast(long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        long[] result = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            long db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            result[i] = da == 1 ? db : db == 1 || db == da ? da : throw new InvalidOperationException($"Shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast.");
        }

        return result;
    }
}
