using System.Collections.Frozen;
using Onnx;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// Finds the values whose dimension 0 is the batch, for models exported with a fixed batch of 1.
/// </summary>
/// <remarks>
/// <para>
/// The rule: a graph input declared with a fixed leading dimension of 1 is taken to be batched. Batch-ness then
/// propagates forward through operators that keep dimension 0 as the sample index and never mix samples
/// (elementwise math, activations, Conv/Pool/normalization, MatMul/Gemm on the left operand, Transpose with
/// perm[0] = 0, Flatten with axis 1, Concat/Split/Gather/Softmax/reductions/Slice/Pad/Squeeze/Unsqueeze away
/// from axis 0, Reshape keeping a leading 1, 0 or -1). It stops at anything else (Shape, Flatten at other
/// axes, a reduction over axis 0...).
/// </para>
/// <para>
/// Only one thing is rewritten: a Reshape whose data carries the batch and whose target shape has a baked-in
/// leading 1 keeps the actual batch size there. At batch 1 this changes nothing, so conformance is unaffected;
/// at batch N it is exactly the per-sample reshape the exporter meant. Broadcasting already handles the other
/// baked-in shapes (Expand, ConstantOfShape) since 1 broadcasts to N. Models that fold the batch into another
/// dimension (e.g. Reshape to [seq, hidden]) are not rewritten and fail with a shape error at batch N.
/// </para>
/// </remarks>
internal static class BatchDimensionAnalysis
{
    private static readonly FrozenSet<string> PerSample = FrozenSet.Create(
        StringComparer.Ordinal,
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "Tanh", "Gelu", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus",
        "Softsign", "Erf", "Exp", "Log", "Sqrt", "Neg", "Abs", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Sin",
        "Cos", "Not", "IsNaN", "IsInf", "Identity", "Dropout", "Cast", "CastLike", "Clip", "Expand", "Conv",
        "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
        "InstanceNormalization", "MatMul", "Trilu", "Tile");

    private static readonly FrozenSet<string> Elementwise = FrozenSet.Create(
        StringComparer.Ordinal,
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater",
        "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where");

    /// <summary>The names of values whose dimension 0 is the batch.</summary>
    public static HashSet<string> Analyse(GraphProto graph, IEnumerable<string> batchedInputs, int opset)
    {
        Dictionary<string, long[]> constants = SmallIntegerConstants(graph);
        HashSet<string> batched = new(batchedInputs, StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            Dictionary<string, AttributeProto> attributes = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);
            long Int(string name, long fallback) => attributes.TryGetValue(name, out AttributeProto? a) ? a.I : fallback;
            long[]? Ints(string name) => attributes.TryGetValue(name, out AttributeProto? a) ? [.. a.Ints] : null;
            long[]? Input(int index) => index < node.Input.Count && constants.TryGetValue(node.Input[index], out long[]? v) ? v : null;
            bool first = node.Input.Count > 0 && batched.Contains(node.Input[0]);
            bool any = node.Input.Any(batched.Contains);
            long[]? axes = Ints("axes") ?? Input(1);

            bool keeps = node.OpType switch
            {
                _ when PerSample.Contains(node.OpType) => first && !(node.OpType == "Tile" && Input(1) is { } r && r.Length > 0 && r[0] != 1),
                _ when Elementwise.Contains(node.OpType) => any,
                "Gemm" => first && Int("transA", 0) == 0,
                "Softmax" or "LogSoftmax" => first && Int("axis", opset >= 13 ? -1 : 1) != 0,
                "LayerNormalization" => first && Int("axis", -1) != 0,
                "Flatten" => first && Int("axis", 1) == 1,
                "Transpose" => first && Ints("perm") is { } perm && perm.Length > 0 && perm[0] == 0,
                "Reshape" => first && (Input(1) is not { } shape || (shape.Length >= 2 && shape[0] is 1 or 0 or -1)),
                "Squeeze" or "Unsqueeze" => first && axes is not null && !axes.Contains(0),
                "Concat" => any && Int("axis", 0) != 0,
                "Split" => first && Int("axis", 0) != 0,
                "Gather" or "GatherElements" or "ArgMax" or "ArgMin" => first && Int("axis", 0) != 0,
                "Slice" => first && SliceKeepsAxisZero(node, Ints, Input, opset),
                "Pad" => first && (Ints("pads") ?? Input(1)) is { } pads && pads.Length >= 2 && pads[0] == 0 && pads[pads.Length / 2] == 0,
                _ when node.OpType.StartsWith("Reduce", StringComparison.Ordinal) => first && axes is not null && axes.Length > 0 && !axes.Contains(0),
                _ => false,
            };

            if (keeps)
            {
                IEnumerable<string> outputs = node.OpType is "Split" ? node.Output : node.Output.Take(1);
                foreach (string output in outputs.Where(o => o.Length > 0))
                {
                    batched.Add(output);
                }
            }
        }

        return batched;
    }

    private static bool SliceKeepsAxisZero(NodeProto node, Func<string, long[]?> ints, Func<int, long[]?> input, int opset)
    {
        long[]? starts = opset < 10 ? ints("starts") : input(1);
        long[]? ends = opset < 10 ? ints("ends") : input(2);
        long[]? axes = opset < 10 ? ints("axes") : node.Input.Count > 3 ? input(3) : null;
        if (starts is null || ends is null)
        {
            return false;
        }

        axes ??= [.. Enumerable.Range(0, starts.Length).Select(a => (long)a)];
        for (int k = 0; k < axes.Length; k++)
        {
            // Slicing axis 0 is only harmless when it keeps everything.
            if (axes[k] == 0 && (starts[k] != 0 || ends[k] < int.MaxValue))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Int64 initializers and Constant values of up to 16 elements (shapes, axes, pads).</summary>
    private static Dictionary<string, long[]> SmallIntegerConstants(GraphProto graph)
    {
        Dictionary<string, long[]> result = new(StringComparer.Ordinal);
        foreach (TensorProto t in graph.Initializer)
        {
            if (ReadInts(t) is { } v)
            {
                result[t.Name] = v;
            }
        }

        foreach (NodeProto node in graph.Node.Where(n => n.OpType == "Constant" && n.Output.Count == 1))
        {
            AttributeProto? value = node.Attribute.FirstOrDefault(a => a.Name == "value");
            AttributeProto? ints = node.Attribute.FirstOrDefault(a => a.Name == "value_ints");
            long[]? v = value is not null ? ReadInts(value.T) : ints is not null ? [.. ints.Ints] : null;
            if (v is not null)
            {
                result[node.Output[0]] = v;
            }
        }

        return result;
    }

    private static long[]? ReadInts(TensorProto t)
    {
        if (t.DataType != 7)
        {
            return null;
        }

        if (t.Int64Data.Count is > 0 and <= 16)
        {
            return [.. t.Int64Data];
        }

        if (!t.RawData.IsEmpty && t.RawData.Length <= 128 && t.RawData.Length % 8 == 0)
        {
            byte[] raw = t.RawData.ToByteArray();
            return [.. Enumerable.Range(0, raw.Length / 8).Select(k => BitConverter.ToInt64(raw, k * 8))];
        }

        return null;
    }
}
