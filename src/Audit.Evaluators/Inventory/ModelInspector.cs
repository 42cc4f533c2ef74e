using System.Globalization;
using Audit.Evaluators.Onnx;
using Onnx;

namespace Audit.Evaluators.Inventory;

/// <summary>
/// Reads an ONNX file's declarations (<see cref="Inspect(string, OnnxImportLimits?)"/>), and with
/// <see cref="InspectAndRun"/> also runs it once on a synthetic input to measure executability and read its interface.
/// </summary>
public static class ModelInspector
{
    /// <summary>
    /// Parses, validates as data (the importer's limits: external data, foreign domains, sizes) and inventories
    /// the model. Whether an operator is executable is asked of the importer's registry at the model's opset.
    /// </summary>
    /// <exception cref="ModelRejectedException">Not ONNX, external data, unknown domain, or out of bounds.</exception>
    public static ModelInventory Inspect(string path, OnnxImportLimits? limits = null) =>
        Inspect(Read(path, limits ?? OnnxImportLimits.Default), limits ?? OnnxImportLimits.Default);

    /// <summary>
    /// <see cref="Inspect(string, OnnxImportLimits?)"/>, then measures executability: imports the graph and runs one
    /// forward pass on a small synthetic input, bounded in time and memory (<paramref name="options"/>), and reads
    /// the model's <see cref="ModelInterface"/> from its declarations and the run's output shapes.
    /// </summary>
    /// <exception cref="ModelRejectedException">As <see cref="Inspect(string, OnnxImportLimits?)"/>.</exception>
    /// <exception cref="UnsupportedOperatorException">The model uses com.microsoft operators the importer lacks.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (not the check's own timeout).</exception>
    public static ModelInventory InspectAndRun(
        string path, CancellationToken cancellationToken, ExecutionCheckOptions? options = null, OnnxImportLimits? limits = null, TimeProvider? time = null)
    {
        limits ??= OnnxImportLimits.Default;
        byte[] bytes = Read(path, limits);
        ModelProto model = OnnxModelLoader.Parse(bytes, limits);
        ModelInventory inventory = Inspect(model);
        // Structure before running: a cycle, an undefined input or a raw_data of the wrong size is refused with its
        // reason instead of surfacing as a failed run.
        OnnxStructureCheck.Check(model);
        ExecutabilityCheck.Result run = ExecutabilityCheck.Run(model, bytes, limits, options ?? ExecutionCheckOptions.Default, time ?? TimeProvider.System, cancellationToken);
        HashSet<string> transposed = ImageLayouts.TransposedToChannelsFirst(model.Graph);
        ModelInterface detected = InterfaceDetector.Detect(inventory.Inputs, inventory.Outputs, run.OutputShapes, transposed);
        if (detected.Kind is ModelKindNames.ImageClassifier or ModelKindNames.VectorClassifier
            && FinalNormalisation.Of(model.Graph, OnnxModelLoader.DefaultOpset(model)) is { } normalisation)
        {
            detected = detected with { ScoresNormalisedBy = normalisation.OpType, Logits = normalisation.Logits };
        }

        return inventory with { Interface = detected, Executable = run.Executable, ExecutionError = run.Error };
    }

    private static byte[] Read(string path, OnnxImportLimits limits)
    {
        if (new FileInfo(path).Length > limits.MaxModelBytes)
        {
            throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The model is larger than {limits.MaxModelBytes} bytes.");
        }

        return File.ReadAllBytes(path);
    }

    private static ModelInventory Inspect(byte[] bytes, OnnxImportLimits limits) => Inspect(OnnxModelLoader.Parse(bytes, limits));

    private static ModelInventory Inspect(ModelProto model)
    {
        GraphProto graph = model.Graph;
        var opsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (OperatorSetIdProto import in model.OpsetImport)
        {
            opsets[import.Domain ?? ""] = import.Version;
        }

        int defaultOpset = OnnxModelLoader.DefaultOpset(model);
        var initializerNames = new HashSet<string>(StringComparer.Ordinal);
        long parameterCount = 0, parameterBytes = 0;
        foreach (TensorProto tensor in graph.Initializer)
        {
            initializerNames.Add(tensor.Name);
            long elements = tensor.Dims.Aggregate(1L, (product, dim) => product * dim);
            parameterCount += elements;
            parameterBytes += OnnxTensors.ToScalarType(tensor.DataType) is { } type ? elements * OnnxTensors.ElementSize(type) : tensor.RawData.Length;
        }

        var counts = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var unsupported = new SortedSet<string>(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            string key = OnnxOperatorSupport.IsDefaultDomain(node.Domain) ? node.OpType : $"{node.Domain}::{node.OpType}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
            if (!OnnxOperatorSupport.IsSupported(node.OpType, node.Domain, defaultOpset))
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
}
