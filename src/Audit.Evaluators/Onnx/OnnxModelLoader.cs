using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx.Operators;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// Reads an ONNX model (untrusted bytes) into an <see cref="OnnxGraph"/>: validates it as data first
/// (sizes, ranks, domains, external references), then compiles each node against the operator registry.
/// </summary>
public static class OnnxModelLoader
{
    /// <summary>Loads a model file onto a device.</summary>
    /// <exception cref="ModelRejectedException">The model is malformed, refers to external data, uses a foreign domain or exceeds limits.</exception>
    /// <exception cref="UnsupportedOperatorException">The model is valid but uses operators or types the importer cannot run.</exception>
    public static OnnxGraph Load(string path, ComputeDevice device, OnnxImportLimits? limits = null)
    {
        limits ??= OnnxImportLimits.Default;
        long length = new FileInfo(path).Length;
        if (length > limits.MaxModelBytes)
        {
            throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The model file has {length} bytes; at most {limits.MaxModelBytes} are accepted.");
        }

        return Load(File.ReadAllBytes(path), device, limits);
    }

    /// <summary>Loads a serialized model onto a device.</summary>
    /// <exception cref="ModelRejectedException">See <see cref="Load(string, ComputeDevice, OnnxImportLimits?)"/>.</exception>
    /// <exception cref="UnsupportedOperatorException">See <see cref="Load(string, ComputeDevice, OnnxImportLimits?)"/>.</exception>
    public static OnnxGraph Load(byte[] bytes, ComputeDevice device, OnnxImportLimits? limits = null)
    {
        limits ??= OnnxImportLimits.Default;
        ModelProto model = Parse(bytes, limits);
        return Compile(model, device, limits);
    }

    /// <summary>Parses and validates a model as data without compiling it (sizes, domains, external data).</summary>
    /// <exception cref="ModelRejectedException">The model is refused.</exception>
    public static ModelProto Parse(byte[] bytes, OnnxImportLimits? limits = null)
    {
        limits ??= OnnxImportLimits.Default;
        if (bytes.LongLength > limits.MaxModelBytes)
        {
            throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The model has {bytes.LongLength} bytes; at most {limits.MaxModelBytes} are accepted.");
        }

        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new ModelRejectedException(ModelRejectionReason.Malformed, "The file is not a valid ONNX model: " + e.Message, e);
        }

        Validate(model, limits);
        return model;
    }

    /// <summary>The default-domain opset of a model (the ONNX domain <c>""</c> / <c>ai.onnx</c>).</summary>
    public static int DefaultOpset(ModelProto model)
    {
        OperatorSetIdProto? import = model.OpsetImport.FirstOrDefault(o => OnnxOperatorSupport.IsDefaultDomain(o.Domain));
        return import is null
            ? throw new ModelRejectedException(ModelRejectionReason.Malformed, "The model imports no version of the default ONNX operator set.")
            : (int)import.Version;
    }

    /// <summary>Unsupported operators (with opset), each once, in order of first use.</summary>
    public static IReadOnlyList<string> FindUnsupported(ModelProto model)
    {
        int opset = DefaultOpset(model);
        return [.. model.Graph.Node
            .Where(n => !OnnxOperatorSupport.IsSupported(n.OpType, n.Domain, opset))
            .Select(n => $"{n.OpType} (opset {opset})")
            .Distinct(StringComparer.Ordinal)];
    }

    private static void Validate(ModelProto model, OnnxImportLimits limits)
    {
        GraphProto graph = model.Graph ?? throw new ModelRejectedException(ModelRejectionReason.Malformed, "The model has no graph.");
        _ = DefaultOpset(model);
        if (graph.Node.Count > limits.MaxNodes)
        {
            throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The graph has {graph.Node.Count} nodes; at most {limits.MaxNodes} are accepted.");
        }

        string[] domains = [.. graph.Node.Select(n => n.Domain)
            .Where(d => !OnnxOperatorSupport.IsDefaultDomain(d) && d != OnnxOperatorSupport.MicrosoftDomain)
            .Distinct(StringComparer.Ordinal)];
        if (domains.Length > 0)
        {
            throw new ModelRejectedException(ModelRejectionReason.UnknownDomain, $"The graph uses operators from unknown domain(s): {string.Join(", ", domains)}; only the default ONNX domain and ONNX Runtime's com.microsoft transformer operators are accepted.");
        }

        // ONNX Runtime's optimiser fuses transformer blocks into com.microsoft operators; the common ones are
        // implemented, any other is refused by name with the way to export without it.
        string[] microsoft = [.. graph.Node
            .Where(n => n.Domain == OnnxOperatorSupport.MicrosoftDomain && OperatorRegistry.Instance.Find(n.OpType, n.Domain, 1) is null)
            .Select(n => $"{OnnxOperatorSupport.MicrosoftDomain}.{n.OpType}")
            .Distinct(StringComparer.Ordinal)];
        if (microsoft.Length > 0)
        {
            throw new UnsupportedOperatorException(
                microsoft,
                $"The model uses ONNX Runtime contrib operators the importer does not support: {string.Join(", ", microsoft)} (supported from com.microsoft: {string.Join(", ", OnnxOperatorSupport.SupportedMicrosoft)}). {OnnxOperatorSupport.MicrosoftExportAdvice}");
        }

        long totalBytes = 0;
        IEnumerable<TensorProto> tensors = graph.Initializer.Concat(graph.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Select(a => a.T));
        foreach (TensorProto t in tensors)
        {
            if (t.DataLocation == TensorProto.Types.DataLocation.External || t.ExternalData.Count > 0)
            {
                throw new ModelRejectedException(ModelRejectionReason.ExternalData, $"Tensor '{t.Name}' refers to external data; upload a self-contained model.");
            }

            long count = OnnxTensors.CheckShape([.. t.Dims], limits, $"tensor '{t.Name}'");
            totalBytes += count * Math.Max(1, OnnxTensors.ToScalarType(t.DataType) is { } type ? OnnxTensors.ElementSize(type) : 8);
            if (totalBytes > limits.MaxTotalTensorBytes)
            {
                throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The model's tensors need more than {limits.MaxTotalTensorBytes} bytes.");
            }
        }

        if (graph.SparseInitializer.Count > 0)
        {
            throw new UnsupportedOperatorException(["sparse initializers"]);
        }

        foreach (ValueInfoProto v in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (v.Type?.TensorType?.Shape is { } shape)
            {
                if (shape.Dim.Count > limits.MaxRank)
                {
                    throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"Value '{v.Name}' has rank {shape.Dim.Count}; at most {limits.MaxRank} is accepted.");
                }

                foreach (TensorShapeProto.Types.Dimension d in shape.Dim)
                {
                    if (d.HasDimValue && (d.DimValue < 0 || d.DimValue > limits.MaxDimension))
                    {
                        throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"Value '{v.Name}' has dimension {d.DimValue}; dimensions must lie in 0..{limits.MaxDimension}.");
                    }
                }
            }
        }
    }

    private static OnnxGraph Compile(ModelProto model, ComputeDevice device, OnnxImportLimits limits)
    {
        // Before the first tensor of any model: a processor whose oneDNN convolutions are wrong gets libtorch's own.
        Runtime.ConvolutionKernelCheck.EnsureVerified();
        GraphProto graph = model.Graph;
        int opset = DefaultOpset(model);
        IReadOnlyList<string> unsupported = FindUnsupported(model);
        List<string> problems = [.. unsupported];
        HashSet<string> initializerNames = new(graph.Initializer.Select(t => t.Name), StringComparer.Ordinal);
        // Before IR 4 initializers are also listed as inputs; only the rest are fed by the caller.
        ValueInfoProto[] realInputs = [.. graph.Input.Where(i => !initializerNames.Contains(i.Name))];
        ValueSpec[] inputs = [.. realInputs.Select(v => Spec(v, problems))];
        ValueSpec[] outputs = [.. graph.Output.Select(v => Spec(v, problems))];
        if (problems.Count > 0)
        {
            throw new UnsupportedOperatorException(problems);
        }

        // A fixed leading 1 on every input of rank >= 1 marks a model exported at batch 1.
        string[] batchedInputs = [.. inputs.Where(i => i.Shape.Count > 0 && i.Shape[0] == 1).Select(i => i.Name)];
        bool fixedBatch = batchedInputs.Length > 0 && inputs.All(i => i.Shape.Count == 0 || i.Shape[0] == 1);
        HashSet<string> batched = fixedBatch ? BatchDimensionAnalysis.Analyse(graph, batchedInputs, opset) : [];

        Dictionary<string, Tensor> initializers = new(StringComparer.Ordinal);
        List<Tensor> owned = [];
        try
        {
            using (torch.NewDisposeScope())
            {
                foreach (TensorProto t in graph.Initializer)
                {
                    Tensor tensor = OnnxTensors.ToTensor(t, device.Torch, limits);
                    tensor.DetachFromDisposeScope();
                    initializers[t.Name] = tensor;
                }

                HashSet<string> defined = new(initializers.Keys.Concat(inputs.Select(i => i.Name)), StringComparer.Ordinal);
                List<CompiledNode> nodes = [];
                List<GraphRewrites.Compiled> compiled = [];
                foreach (NodeProto node in graph.Node)
                {
                    string describe = $"{node.OpType} node '{node.Name}'";
                    string? missing = node.Input.FirstOrDefault(i => i.Length > 0 && !defined.Contains(i));
                    if (missing is not null)
                    {
                        throw new ModelRejectedException(ModelRejectionReason.Malformed, $"{describe} reads '{missing}' before it is produced (nodes must be topologically sorted).");
                    }

                    if (node.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))
                    {
                        throw new UnsupportedOperatorException([$"{node.OpType} (opset {opset}): subgraphs"]);
                    }

                    OperatorDefinition definition = OperatorRegistry.Instance.Find(node.OpType, node.Domain, opset)!;
                    bool firstBatched = node.Input.Count > 0 && batched.Contains(node.Input[0]);
                    NodeContext context = new(node, opset, device.Torch, firstBatched, limits);
                    OnnxKernel kernel = definition.Build(context);
                    owned.AddRange(context.Owned);
                    foreach (string output in node.Output.Where(o => o.Length > 0))
                    {
                        if (!defined.Add(output))
                        {
                            throw new ModelRejectedException(ModelRejectionReason.Malformed, $"{describe} redefines value '{output}'.");
                        }
                    }

                    nodes.Add(new CompiledNode(describe, [.. node.Input], [.. node.Output], kernel, node.OpType));
                    compiled.Add(new GraphRewrites.Compiled(node.OpType, context, nodes[^1]));
                }

                string? undefinedOutput = outputs.Select(o => o.Name).FirstOrDefault(o => !defined.Contains(o));
                if (undefinedOutput is not null)
                {
                    throw new ModelRejectedException(ModelRejectionReason.Malformed, $"Graph output '{undefinedOutput}' is never produced.");
                }

                RewrittenNodes? rewritten = GraphRewrites.Rewrite(compiled, outputs.Select(o => o.Name), initializers, owned);
                bool channelsLast = inputs.Length > 0 && Kernels.IsFloating(inputs[0].ElementType)
                    && ImageLayouts.IsChannelsLast(inputs[0].Name, inputs[0].Shape, ImageLayouts.TransposedToChannelsFirst(graph));
                return new OnnxGraph(device, inputs, outputs, [.. nodes], initializers, owned, opset, fixedBatch, rewritten)
                {
                    ChannelsLastImageInput = channelsLast,
                    FinalNormalisation = FinalNormalisation.Of(graph, opset),
                };
            }
        }
        catch
        {
            foreach (Tensor t in initializers.Values.Concat(owned))
            {
                t.Dispose();
            }

            throw;
        }
    }

    private static ValueSpec Spec(ValueInfoProto v, List<string> problems)
    {
        TypeProto.Types.Tensor? tensorType = v.Type?.TensorType;
        if (tensorType is null)
        {
            problems.Add($"non-tensor value '{v.Name}'");
            return new ValueSpec(v.Name, ScalarType.Float32, [], []);
        }

        ScalarType? type = OnnxTensors.ToScalarType(tensorType.ElemType);
        if (type is null)
        {
            problems.Add($"element type {OnnxTensors.TypeName(tensorType.ElemType)} (value '{v.Name}')");
        }

        List<long> shape = [];
        List<string?> names = [];
        foreach (TensorShapeProto.Types.Dimension d in tensorType.Shape?.Dim ?? [])
        {
            shape.Add(d.HasDimValue ? d.DimValue : -1);
            names.Add(d.HasDimParam ? d.DimParam : null);
        }

        return new ValueSpec(v.Name, type ?? ScalarType.Float32, shape, names);
    }
}
