using Onnx;

namespace Audit.Testing.Onnx;

/// <summary>
/// Rewrites an image model so that it takes its input another way and computes the same function of the same image:
/// an input map inside the graph (a Keras <c>Rescaling</c> or <c>Normalization</c> layer, the per-channel standardisation
/// of torchvision-style exports), or more colour channels folded into the ones it reads. An audit of the rewritten model
/// on evidence mapped to match must reach the same findings.
/// </summary>
public static class InputMapExport
{
    /// <summary>
    /// <paramref name="model"/> reading <c>x · scale + shift</c> of its new first input (a copy): one value each for every
    /// channel, or one per channel of an image input (<c>[1, C, 1, 1]</c> for <c>[N, C, H, W]</c>; <c>[1, 1, 1, C]</c> for
    /// a channels-last <c>[N, H, W, C]</c>, recognised by a last dimension of C where the second is not). Give it
    /// evidence mapped by <c>(x − shift) / scale</c>.
    /// </summary>
    public static ModelProto Prepended(ModelProto model, IReadOnlyList<float> scale, IReadOnlyList<float> shift)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(shift);
        if (scale.Count != shift.Count || scale.Count == 0)
        {
            throw new ArgumentException("scale and shift need the same, positive, number of values.", nameof(scale));
        }

        ModelProto copy = model.Clone();
        GraphProto graph = copy.Graph;
        string outer = graph.Input[0].Name, mapped = outer + "_mapped", multiplied = outer + "_multiplied";
        Rename(graph, outer, mapped);
        var declared = graph.Input[0].Type.TensorType.Shape.Dim;
        bool channelsLast = declared.Count == 4 && declared[3].DimValue == scale.Count && declared[1].DimValue != scale.Count;
        long[] dims = scale.Count == 1 ? [] : channelsLast ? [1, 1, 1, scale.Count] : [1, scale.Count, 1, 1];
        graph.Initializer.Add(Constant("input_scale", scale, dims));
        graph.Initializer.Add(Constant("input_shift", shift, dims));
        graph.Node.Insert(0, Node("Add", "shift_input", [multiplied, "input_shift"], mapped));
        graph.Node.Insert(0, Node("Mul", "rescale_input", [outer, "input_scale"], multiplied));
        return copy;
    }

    /// <summary>
    /// <paramref name="model"/>, whose input is <c>[N, C, H, W]</c>, taking <paramref name="channels"/> × C channels and
    /// reading the mean of each group of <paramref name="channels"/> (a 1 × 1 convolution, bias-free): a grey-scale model
    /// fed a grey image copied into every colour channel computes what it did.
    /// </summary>
    public static ModelProto Widened(ModelProto model, int channels)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfLessThan(channels, 2);
        ModelProto copy = model.Clone();
        GraphProto graph = copy.Graph;
        ValueInfoProto original = graph.Input[0];
        var dims = original.Type.TensorType.Shape.Dim;
        if (dims.Count != 4 || !dims[1].HasDimValue)
        {
            throw new ArgumentException($"Input '{original.Name}' must be [N, C, H, W] with a fixed C.", nameof(model));
        }

        long inner = dims[1].DimValue;
        string outer = original.Name, folded = outer + "_folded";
        Rename(graph, outer, folded);
        ValueInfoProto input = original.Clone();
        input.Type.TensorType.Shape.Dim[1] = new TensorShapeProto.Types.Dimension { DimValue = inner * channels };
        graph.Input[0] = input;

        // Output channel o reads input channels o·channels … o·channels + channels − 1, each with weight 1/channels.
        var weight = new float[inner * inner * channels];
        for (long o = 0; o < inner; o++)
        {
            for (long k = 0; k < channels; k++)
            {
                weight[(o * inner * channels) + (o * channels) + k] = 1f / channels;
            }
        }

        graph.Initializer.Add(Constant("fold_weight", weight, [inner, inner * channels, 1, 1]));
        graph.Node.Insert(0, Node("Conv", "fold_channels", [outer, "fold_weight"], folded));
        return copy;
    }

    private static void Rename(GraphProto graph, string from, string to)
    {
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (node.Input[i] == from)
                {
                    node.Input[i] = to;
                }
            }
        }
    }

    private static TensorProto Constant(string name, IReadOnlyList<float> values, long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.Add(dims);
        tensor.FloatData.Add(values);
        return tensor;
    }

    private static NodeProto Node(string opType, string name, string[] inputs, string output)
    {
        var node = new NodeProto { OpType = opType, Name = name, Domain = "" };
        node.Input.Add(inputs);
        node.Output.Add(output);
        return node;
    }
}
