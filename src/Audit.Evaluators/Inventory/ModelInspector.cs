using System.Globalization;
using Google.Protobuf;
using Onnx;

namespace Audit.Evaluators.Inventory;

/// <summary>Reads an ONNX file's declarations without running it.</summary>
public static class ModelInspector
{
    /// <summary>Bounds that keep a hostile file from exhausting memory while we only look at it.</summary>
    public const int MaxNodes = 100_000;
    public const int MaxRank = 8;
    public const long MaxDimension = 1L << 31;

    private static readonly HashSet<string> DefaultDomains = new(StringComparer.Ordinal) { "", "ai.onnx" };

    /// <summary>
    /// Parses and inventories the model. <paramref name="isSupported"/> decides, per (domain, op, opset),
    /// whether the importer can run an operator; by default every default-domain operator is assumed unknown.
    /// </summary>
    /// <exception cref="ModelRejectedException">Not ONNX, external data, or out of bounds.</exception>
    public static ModelInventory Inspect(string path, Func<string, string, long, bool>? isSupported = null)
    {
        ModelProto model;
        try
        {
            using FileStream stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelRejectedException("not-onnx", $"The file is not a valid ONNX model: {ex.Message}");
        }

        if (model.Graph is null || model.IrVersion <= 0)
        {
            throw new ModelRejectedException("not-onnx", "The file parses as protobuf but has no ONNX graph or IR version.");
        }

        GraphProto graph = model.Graph;
        if (graph.Node.Count > MaxNodes)
        {
            throw new ModelRejectedException("too-large", $"The graph has {graph.Node.Count} nodes; at most {MaxNodes} are accepted.");
        }

        var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (OperatorSetIdProto import in model.OpsetImport)
        {
            opsets[import.Domain ?? ""] = import.Version;
        }

        long defaultOpset = opsets.TryGetValue("", out long v) ? v : opsets.GetValueOrDefault("ai.onnx");
        var initializerNames = new HashSet<string>(StringComparer.Ordinal);
        long parameterCount = 0, parameterBytes = 0;
        foreach (TensorProto tensor in graph.Initializer)
        {
            if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0)
            {
                throw new ModelRejectedException("external-data",
                    $"Initializer '{tensor.Name}' refers to external data; only self-contained models are accepted.");
            }

            initializerNames.Add(tensor.Name);
            long elements = 1;
            foreach (long dim in tensor.Dims)
            {
                if (dim < 0 || dim > MaxDimension)
                {
                    throw new ModelRejectedException("bad-dimension", $"Initializer '{tensor.Name}' has dimension {dim}.");
                }

                elements = checked(elements * dim);
            }

            parameterCount += elements;
            parameterBytes += tensor.RawData.Length > 0 ? tensor.RawData.Length : elements * ElementSize(tensor.DataType);
        }

        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var unsupported = new SortedSet<string>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            string domain = node.Domain ?? "";
            string key = DefaultDomains.Contains(domain) ? node.OpType : $"{domain}::{node.OpType}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            long opset = DefaultDomains.Contains(domain) ? defaultOpset : opsets.GetValueOrDefault(domain);
            if (isSupported is null || !isSupported(domain, node.OpType, opset))
            {
                unsupported.Add(key);
            }
        }

        return new ModelInventory(
            model.IrVersion,
            opsets,
            string.IsNullOrEmpty(model.ProducerName) ? null : $"{model.ProducerName} {model.ProducerVersion}".Trim(),
            graph.Input.Where(i => !initializerNames.Contains(i.Name)).Select(Describe).ToList(),
            graph.Output.Select(Describe).ToList(),
            counts,
            parameterCount,
            parameterBytes,
            unsupported.ToList());
    }

    private static TensorDescription Describe(ValueInfoProto value)
    {
        TypeProto.Types.Tensor? tensor = value.Type?.TensorType;
        if (tensor is null)
        {
            return new TensorDescription(value.Name, "non-tensor", []);
        }

        var shape = new List<string>();
        if (tensor.Shape is not null)
        {
            if (tensor.Shape.Dim.Count > MaxRank)
            {
                throw new ModelRejectedException("bad-dimension", $"Value '{value.Name}' has rank {tensor.Shape.Dim.Count}; at most {MaxRank}.");
            }

            foreach (TensorShapeProto.Types.Dimension dim in tensor.Shape.Dim)
            {
                shape.Add(dim.ValueCase switch
                {
                    TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => dim.DimValue.ToString(CultureInfo.InvariantCulture),
                    TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => dim.DimParam,
                    _ => "?",
                });
            }
        }

        return new TensorDescription(value.Name, ElementTypeName(tensor.ElemType), shape);
    }

    /// <summary>ONNX TensorProto.DataType number to the name used in the ONNX specification.</summary>
    public static string ElementTypeName(int dataType) => dataType switch
    {
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        16 => "bfloat16",
        _ => $"type-{dataType}",
    };

    private static long ElementSize(int dataType) => dataType switch
    {
        1 or 6 or 12 => 4,
        2 or 3 or 9 => 1,
        4 or 5 or 10 or 16 => 2,
        7 or 11 or 13 => 8,
        _ => 0,
    };
}
