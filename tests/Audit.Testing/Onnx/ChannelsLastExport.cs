using Onnx;

namespace Audit.Testing.Onnx;

/// <summary>
/// Rewrites a channels-first image model (<c>[N, C, H, W]</c> input) into the form tf2onnx writes for a Keras model:
/// a channels-last input <c>[N, H, W, C]</c> named <c>input_1</c> with a symbolic batch <c>unk__0</c>, read by one
/// leading <c>Transpose(perm = [0, 3, 1, 2])</c> that feeds the unchanged convolutions. The network computes the same
/// function of the same image, so an audit must reach the same findings in either form.
/// </summary>
public static class ChannelsLastExport
{
    /// <summary>The channels-last form of <paramref name="channelsFirst"/> (a copy; the argument is unchanged).</summary>
    /// <exception cref="ArgumentException">The model's first input is not a rank-4 tensor with fixed C, H, W.</exception>
    public static ModelProto FromChannelsFirst(ModelProto channelsFirst, string inputName = "input_1")
    {
        ArgumentNullException.ThrowIfNull(channelsFirst);
        ModelProto model = channelsFirst.Clone();
        GraphProto graph = model.Graph;
        ValueInfoProto original = graph.Input[0];
        var dims = original.Type.TensorType.Shape.Dim;
        if (dims.Count != 4 || dims.Skip(1).Any(d => !d.HasDimValue))
        {
            throw new ArgumentException($"Input '{original.Name}' must be [N, C, H, W] with fixed C, H, W.", nameof(channelsFirst));
        }

        var input = new ValueInfoProto
        {
            Name = inputName,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = original.Type.TensorType.ElemType, Shape = new TensorShapeProto() } },
        };
        input.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "unk__0" });
        input.Type.TensorType.Shape.Dim.Add(dims[2].Clone());
        input.Type.TensorType.Shape.Dim.Add(dims[3].Clone());
        input.Type.TensorType.Shape.Dim.Add(dims[1].Clone());

        var transpose = new NodeProto { OpType = "Transpose", Name = "transpose_to_nchw", Domain = "" };
        transpose.Input.Add(inputName);
        transpose.Output.Add(original.Name);
        transpose.Attribute.Add(OnnxAttributes.Ints("perm", 0, 3, 1, 2));

        graph.Input[0] = input;
        graph.Node.Insert(0, transpose);
        model.ProducerName = "tf2onnx-like";
        return model;
    }
}
