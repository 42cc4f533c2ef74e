using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Testing.Onnx;

/// <summary>
/// Builds an ONNX model (opset 17 by default) out of named values, initializers and nodes, and serialises it
/// with OnnxSharp's protobuf types. General on purpose: the CNN/MLP exporter and the transformer exporter
/// both emit their graphs through it.
/// </summary>
/// <remarks>
/// Names are the graph's value names; <see cref="UniqueName"/> hands out fresh ones so exporters need not
/// track collisions. Tensors are copied to the CPU (contiguous, little-endian raw data) when added, so the
/// builder holds no native memory.
/// </remarks>
public sealed class OnnxGraphBuilder
{
    /// <summary>Opset the writer targets unless told otherwise.</summary>
    public const long DefaultOpset = 17;

    private readonly GraphProto graph;
    private readonly Dictionary<string, long> opsets = new(StringComparer.Ordinal);
    private readonly HashSet<string> names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> counters = new(StringComparer.Ordinal);

    /// <summary>Starts an empty graph.</summary>
    public OnnxGraphBuilder(string graphName = "main", long opset = DefaultOpset)
    {
        graph = new GraphProto { Name = graphName };
        opsets[""] = opset;
    }

    /// <summary>Producer name written into the model.</summary>
    public string ProducerName { get; init; } = "Audit";

    /// <summary>Names of the graph inputs added so far.</summary>
    public IReadOnlyList<string> InputNames => graph.Input.Select(i => i.Name).ToList();

    /// <summary>Imports another operator domain (e.g. <c>com.microsoft</c>) at a version.</summary>
    public void ImportOpset(string domain, long version) => opsets[domain] = version;

    /// <summary>A name not used yet in this graph, derived from <paramref name="hint"/>.</summary>
    public string UniqueName(string hint)
    {
        if (names.Add(hint))
        {
            return hint;
        }

        int next = counters.GetValueOrDefault(hint);
        string candidate;
        do
        {
            next++;
            candidate = $"{hint}_{next}";
        }
        while (!names.Add(candidate));

        counters[hint] = next;
        return candidate;
    }

    /// <summary>Adds a graph input. Dimensions are fixed sizes or symbolic names such as <c>"N"</c>.</summary>
    public string AddInput(string name, ScalarType elementType, params OnnxDim[] shape)
    {
        Reserve(name);
        graph.Input.Add(ValueInfo(name, elementType, shape));
        return name;
    }

    /// <summary>Declares an existing value as a graph output. Pass no shape to leave it unspecified.</summary>
    public string AddOutput(string name, ScalarType elementType, params OnnxDim[] shape)
    {
        graph.Output.Add(ValueInfo(name, elementType, shape));
        return name;
    }

    /// <summary>Adds shape information for an intermediate value (optional; helps viewers and checkers).</summary>
    public void AddValueInfo(string name, ScalarType elementType, params OnnxDim[] shape) =>
        graph.ValueInfo.Add(ValueInfo(name, elementType, shape));

    /// <summary>Adds a constant tensor (weights, biases, shapes) copied from a TorchSharp tensor.</summary>
    public string AddInitializer(string name, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        string unique = UniqueName(name);
        graph.Initializer.Add(ToTensorProto(unique, value));
        return unique;
    }

    /// <summary>Adds an int64 constant, e.g. a Reshape target shape. Scalar when <paramref name="shape"/> is empty.</summary>
    public string AddInitializer(string name, long[] values, params long[] shape)
    {
        using var scope = torch.NewDisposeScope();
        return AddInitializer(name, torch.tensor(values, shape.Length == 0 && values.Length != 1 ? [values.Length] : shape));
    }

    /// <summary>Adds a float32 constant. Scalar when <paramref name="shape"/> is empty and there is one value.</summary>
    public string AddInitializer(string name, float[] values, params long[] shape)
    {
        using var scope = torch.NewDisposeScope();
        return AddInitializer(name, torch.tensor(values, shape.Length == 0 && values.Length != 1 ? [values.Length] : shape));
    }

    /// <summary>Adds a node with one output and returns the output's (fresh) value name.</summary>
    public string AddNode(string opType, IReadOnlyList<string> inputs, params AttributeProto[] attributes) =>
        AddNode(opType, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputCount"/> outputs and returns their fresh value names.</summary>
    public IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, int outputCount, params AttributeProto[] attributes) =>
        AddNode(opType, inputs, Enumerable.Range(0, outputCount).Select(i => UniqueName($"{opType.ToLowerInvariant()}_out{i}")).ToArray(), "", attributes);

    /// <summary>Adds a node with explicitly named outputs, optionally in a non-default domain.</summary>
    public IReadOnlyList<string> AddNode(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, string domain, params AttributeProto[] attributes)
    {
        ArgumentException.ThrowIfNullOrEmpty(opType);
        foreach (string output in outputs)
        {
            names.Add(output);
        }

        var node = new NodeProto { OpType = opType, Name = UniqueName($"{opType}_node"), Domain = domain };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return outputs;
    }

    /// <summary>The finished model (IR version 8, the version paired with opset 17).</summary>
    public ModelProto Build()
    {
        var model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = ProducerName,
            ProducerVersion = "1",
            Graph = graph.Clone(),
        };
        foreach ((string domain, long version) in opsets)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }

        return model;
    }

    /// <summary>Serialised model bytes.</summary>
    public byte[] ToBytes() => Build().ToByteArray();

    /// <summary>Writes the model to <paramref name="path"/>.</summary>
    public void Save(string path) => File.WriteAllBytes(path, ToBytes());

    /// <summary>ONNX <c>TensorProto.DataType</c> code for a TorchSharp element type.</summary>
    public static int DataTypeOf(ScalarType type) => type switch
    {
        ScalarType.Float32 => (int)TensorProto.Types.DataType.Float,
        ScalarType.Float64 => (int)TensorProto.Types.DataType.Double,
        ScalarType.Float16 => (int)TensorProto.Types.DataType.Float16,
        ScalarType.BFloat16 => (int)TensorProto.Types.DataType.Bfloat16,
        ScalarType.Int64 => (int)TensorProto.Types.DataType.Int64,
        ScalarType.Int32 => (int)TensorProto.Types.DataType.Int32,
        ScalarType.Int16 => (int)TensorProto.Types.DataType.Int16,
        ScalarType.Int8 => (int)TensorProto.Types.DataType.Int8,
        ScalarType.Byte => (int)TensorProto.Types.DataType.Uint8,
        ScalarType.Bool => (int)TensorProto.Types.DataType.Bool,
        _ => throw new NotSupportedException($"Element type {type} has no ONNX export mapping."),
    };

    /// <summary>Converts a tensor to an ONNX initializer with raw little-endian data.</summary>
    public static TensorProto ToTensorProto(string name, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw data is little-endian; big-endian hosts are not supported.");
        }

        using var scope = torch.NewDisposeScope();
        Tensor cpu = value.detach().cpu().contiguous();
        var proto = new TensorProto { Name = name, DataType = DataTypeOf(cpu.dtype) };
        proto.Dims.AddRange(cpu.shape);
        proto.RawData = ByteString.CopyFrom(RawBytes(cpu));
        return proto;
    }

    private static byte[] RawBytes(Tensor cpu) => cpu.dtype switch
    {
        ScalarType.Float32 => MemoryMarshal.AsBytes(cpu.data<float>().ToArray().AsSpan()).ToArray(),
        ScalarType.Float64 => MemoryMarshal.AsBytes(cpu.data<double>().ToArray().AsSpan()).ToArray(),
        ScalarType.Int64 => MemoryMarshal.AsBytes(cpu.data<long>().ToArray().AsSpan()).ToArray(),
        ScalarType.Int32 => MemoryMarshal.AsBytes(cpu.data<int>().ToArray().AsSpan()).ToArray(),
        ScalarType.Int16 => MemoryMarshal.AsBytes(cpu.data<short>().ToArray().AsSpan()).ToArray(),
        ScalarType.Int8 => MemoryMarshal.AsBytes(cpu.data<sbyte>().ToArray().AsSpan()).ToArray(),
        ScalarType.Byte => cpu.data<byte>().ToArray(),
        ScalarType.Bool => cpu.data<bool>().ToArray().Select(b => b ? (byte)1 : (byte)0).ToArray(),
        _ => cpu.bytes.ToArray(),
    };

    private void Reserve(string name)
    {
        if (!names.Add(name))
        {
            throw new ArgumentException($"Value name '{name}' is already used in this graph.", nameof(name));
        }
    }

    private static ValueInfoProto ValueInfo(string name, ScalarType elementType, OnnxDim[] shape)
    {
        var tensorType = new TypeProto.Types.Tensor { ElemType = DataTypeOf(elementType) };
        if (shape.Length > 0)
        {
            tensorType.Shape = new TensorShapeProto();
            foreach (OnnxDim dim in shape)
            {
                tensorType.Shape.Dim.Add(dim.Param is null
                    ? new TensorShapeProto.Types.Dimension { DimValue = dim.Value }
                    : new TensorShapeProto.Types.Dimension { DimParam = dim.Param });
            }
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensorType } };
    }
}

/// <summary>One dimension of a declared shape: a fixed size or a symbolic name such as <c>"N"</c>.</summary>
public readonly record struct OnnxDim(long Value, string? Param)
{
    /// <summary>A fixed size.</summary>
    public static implicit operator OnnxDim(long value) => new(value, null);

    /// <summary>A symbolic dimension.</summary>
    public static implicit operator OnnxDim(string param) => new(0, param);

    /// <summary>A fixed size.</summary>
    public static OnnxDim FromInt64(long value) => new(value, null);

    /// <summary>A symbolic dimension.</summary>
    public static OnnxDim FromString(string param) => new(0, param);
}
