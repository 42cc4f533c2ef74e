using Google.Protobuf;
using Onnx;
using TorchSharp;

namespace Audit.Testing.Onnx;

/// <summary>Factories for ONNX node attributes, so exporters read like the operator specification.</summary>
public static class OnnxAttributes
{
    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Floats(string name, params float[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        attribute.Floats.AddRange(values);
        return attribute;
    }

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A tensor attribute, e.g. the <c>value</c> of a Constant node.</summary>
    public static AttributeProto Tensor(string name, torch.Tensor value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = OnnxGraphBuilder.ToTensorProto(name, value) };
}
