using Onnx;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// Structural checks an ONNX model must pass at upload, beyond what the importer's limits cover: every tensor's
/// data type is one ONNX defines and its stored data has exactly the size its shape needs; opset and IR versions
/// are not negative; the graph is a DAG in static single assignment form (each value produced once, every input
/// defined, no cycle), as the ONNX IR specification requires. A model that fails is a
/// <see cref="ModelRejectedException"/> (<see cref="ModelRejectionReason.Malformed"/>, 422 at upload) rather
/// than an audit that fails later.
/// </summary>
public static class OnnxStructureCheck
{
    /// <summary>Parses (with the importer's limits) and checks the model file at <paramref name="path"/>.</summary>
    /// <exception cref="ModelRejectedException">The model is refused.</exception>
    public static void Check(string path) => Check(OnnxModelLoader.Parse(File.ReadAllBytes(path)));

    /// <summary>Checks a parsed model.</summary>
    /// <exception cref="ModelRejectedException">The model is refused.</exception>
    public static void Check(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.IrVersion < 0)
        {
            throw Malformed($"The IR version {model.IrVersion} is negative.");
        }

        foreach (OperatorSetIdProto import in model.OpsetImport)
        {
            if (import.Version < 1)
            {
                throw Malformed($"The opset import of domain '{import.Domain}' has version {import.Version}; versions start at 1.");
            }
        }

        GraphProto graph = model.Graph ?? throw Malformed("The model has no graph.");
        foreach (TensorProto tensor in graph.Initializer.Concat(graph.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T)))
        {
            CheckTensor(tensor);
        }

        foreach (ValueInfoProto value in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (value.Type?.TensorType is { } tensorType && tensorType.ElemType != 0 && ElementBits(tensorType.ElemType) is null && tensorType.ElemType != StringType)
            {
                throw Malformed($"Value '{value.Name}' has the unknown element type {tensorType.ElemType}.");
            }
        }

        CheckGraph(graph);
    }

    private const int StringType = 8;

    private static void CheckGraph(GraphProto graph)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        var initializers = new HashSet<string>(StringComparer.Ordinal);
        foreach (TensorProto initializer in graph.Initializer)
        {
            if (!initializers.Add(initializer.Name))
            {
                throw Malformed($"The initializer '{initializer.Name}' is defined twice.");
            }

            defined.Add(initializer.Name);
        }

        var inputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (ValueInfoProto input in graph.Input)
        {
            if (!inputs.Add(input.Name))
            {
                throw Malformed($"The graph input '{input.Name}' is declared twice.");
            }

            defined.Add(input.Name);
        }

        // Static single assignment: each value has one producer.
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
        {
            foreach (string output in graph.Node[i].Output.Where(o => o.Length > 0))
            {
                if (defined.Contains(output) || !producer.TryAdd(output, i))
                {
                    throw Malformed($"The value '{output}' is produced more than once (node '{graph.Node[i].Name}', {graph.Node[i].OpType}).");
                }
            }
        }

        var dependents = new List<int>[graph.Node.Count];
        int[] pending = new int[graph.Node.Count];
        for (int i = 0; i < graph.Node.Count; i++)
        {
            dependents[i] = [];
        }

        for (int i = 0; i < graph.Node.Count; i++)
        {
            foreach (string input in graph.Node[i].Input.Where(n => n.Length > 0).Distinct(StringComparer.Ordinal))
            {
                if (producer.TryGetValue(input, out int from))
                {
                    dependents[from].Add(i);
                    pending[i]++;
                }
                else if (!defined.Contains(input))
                {
                    throw Malformed($"Node '{graph.Node[i].Name}' ({graph.Node[i].OpType}) reads '{input}', which no input, initializer or node defines.");
                }
            }
        }

        // Kahn's algorithm: nodes left over sit on a cycle (or depend on one).
        var ready = new Queue<int>(Enumerable.Range(0, graph.Node.Count).Where(i => pending[i] == 0));
        int ordered = 0;
        while (ready.TryDequeue(out int node))
        {
            ordered++;
            foreach (int next in dependents[node])
            {
                if (--pending[next] == 0)
                {
                    ready.Enqueue(next);
                }
            }
        }

        if (ordered != graph.Node.Count)
        {
            int stuck = Array.FindIndex(pending, p => p > 0);
            throw Malformed($"The graph has a cycle (through node '{graph.Node[stuck].Name}', {graph.Node[stuck].OpType}); ONNX graphs are acyclic.");
        }

        var outputs = new HashSet<string>(StringComparer.Ordinal);
        foreach (ValueInfoProto output in graph.Output)
        {
            if (!outputs.Add(output.Name))
            {
                throw Malformed($"The graph output '{output.Name}' is declared twice.");
            }

            if (!defined.Contains(output.Name) && !producer.ContainsKey(output.Name))
            {
                throw Malformed($"The graph output '{output.Name}' is produced by no node, input or initializer.");
            }
        }
    }

    private static void CheckTensor(TensorProto tensor)
    {
        int type = tensor.DataType;
        if (type != StringType && ElementBits(type) is null)
        {
            throw Malformed($"Tensor '{tensor.Name}' has the unknown data type {type}.");
        }

        long count = 1;
        foreach (long dimension in tensor.Dims)
        {
            if (dimension < 0)
            {
                throw Malformed($"Tensor '{tensor.Name}' has the negative dimension {dimension}.");
            }

            count = checked(count * dimension);
        }

        if (!tensor.RawData.IsEmpty)
        {
            if (type == StringType)
            {
                throw Malformed($"Tensor '{tensor.Name}' is a string tensor with raw_data; strings are stored in string_data.");
            }

            long expected = ((count * ElementBits(type)!.Value) + 7) / 8;
            if (tensor.RawData.Length != expected)
            {
                throw Malformed($"Tensor '{tensor.Name}' has {tensor.RawData.Length} bytes of raw_data; its type and shape need {expected}.");
            }

            return;
        }

        long stored = tensor.FloatData.Count + tensor.DoubleData.Count + tensor.Int32Data.Count + tensor.Int64Data.Count
            + tensor.Uint64Data.Count + tensor.StringData.Count;
        long needed = type switch
        {
            14 or 15 => count * 2,                 // complex: real and imaginary parts
            21 or 22 or 23 => (count + 1) / 2,     // 4-bit types: two per int32_data element
            25 or 26 => (count + 3) / 4,           // 2-bit types: four per int32_data element
            _ => count,
        };
        if (stored != needed)
        {
            throw Malformed($"Tensor '{tensor.Name}' stores {stored} values; its shape needs {needed}.");
        }
    }

    /// <summary>Bits per element of the ONNX data types (TensorProto.DataType); null for unknown ones and STRING.</summary>
    private static int? ElementBits(int type) => type switch
    {
        1 or 6 or 12 => 32,                         // FLOAT, INT32, UINT32
        2 or 3 or 9 => 8,                           // UINT8, INT8, BOOL
        4 or 5 or 10 or 16 => 16,                   // UINT16, INT16, FLOAT16, BFLOAT16
        7 or 11 or 13 or 14 => 64,                  // INT64, DOUBLE, UINT64, COMPLEX64
        15 => 128,                                  // COMPLEX128
        17 or 18 or 19 or 20 or 24 => 8,            // FLOAT8 variants, FLOAT8E8M0
        21 or 22 or 23 => 4,                        // UINT4, INT4, FLOAT4E2M1
        25 or 26 => 2,                              // UINT2, INT2
        _ => null,
    };

    private static ModelRejectedException Malformed(string message) => new(ModelRejectionReason.Malformed, message);
}
