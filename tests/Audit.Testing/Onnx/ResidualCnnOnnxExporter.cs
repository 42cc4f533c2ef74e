using Audit.Testing.Vision;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing.Onnx;

/// <summary>
/// Exports a <see cref="ResidualCnn"/> the way PyTorch's exporter writes a ResNet without constant folding of batch
/// norms: <c>input</c> float <c>[N, C, H, W]</c> (symbolic batch) → <c>logits</c> <c>[N, K]</c>, every batch
/// normalisation a separate BatchNormalization node after its Conv, the stem's MaxPool, the residual sums as Add nodes, then
/// GlobalAveragePool, Flatten and Gemm. Opset 11 by default, as older exporters (and the traffic-sign CNN of issue
/// 12) write it.
/// </summary>
/// <remarks>
/// Value names follow the module (<c>stem.conv</c>, <c>stages.1.add</c>, <c>pool</c>, ...), so a test can name the
/// pooled features (<c>flatten</c>) as the penultimate representation.
/// </remarks>
public static class ResidualCnnOnnxExporter
{
    /// <summary>Builds the ONNX model for inputs of shape <c>[N, ..<paramref name="sampleShape"/>]</c>.</summary>
    public static ModelProto Export(ResidualCnn model, long[] sampleShape, long opset = 11)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampleShape);
        var builder = new OnnxGraphBuilder("residual_cnn", opset);
        string x = builder.AddInput("input", ScalarType.Float32, [OnnxDim.FromString("N"), .. sampleShape.Select(OnnxDim.FromInt64)]);
        x = Relu(builder, Norm(builder, model.StemNorm, Conv(builder, model.StemConv, x, "stem.conv"), "stem.bn"), "stem.relu");
        x = Node(builder, "MaxPool", [x], "stem.pool",
            OnnxAttributes.Ints("kernel_shape", 3, 3), OnnxAttributes.Ints("strides", 2, 2), OnnxAttributes.Ints("pads", 1, 1, 1, 1));
        for (int i = 0; i < model.Stages.Count; i++)
        {
            ResidualBlock block = model.Stages[i];
            string prefix = $"stages.{i}";
            string branch = Relu(builder, Norm(builder, block.Norm1, Conv(builder, block.Conv1, x, $"{prefix}.conv1"), $"{prefix}.bn1"), $"{prefix}.relu1");
            branch = Norm(builder, block.Norm2, Conv(builder, block.Conv2, branch, $"{prefix}.conv2"), $"{prefix}.bn2");
            string shortcut = block.ShortcutConv is null
                ? x
                : Norm(builder, block.ShortcutNorm!, Conv(builder, block.ShortcutConv, x, $"{prefix}.shortcut.conv"), $"{prefix}.shortcut.bn");
            x = Relu(builder, Node(builder, "Add", [branch, shortcut], $"{prefix}.add"), $"{prefix}.relu2");
        }

        string pooled = Node(builder, "GlobalAveragePool", [x], "pool");
        string features = Node(builder, "Flatten", [pooled], "flatten", OnnxAttributes.Int("axis", 1));
        var head = new List<string> { features, builder.AddInitializer("head.weight", model.Head.weight!) };
        if (model.Head.bias is not null)
        {
            head.Add(builder.AddInitializer("head.bias", model.Head.bias));
        }

        builder.AddNode("Gemm", head, ["logits"], "", OnnxAttributes.Int("transB", 1));
        builder.AddOutput("logits", ScalarType.Float32, OnnxDim.FromString("N"), OnnxDim.FromInt64(model.Classes));
        return builder.Build();
    }

    /// <summary>Exports and writes the model to <paramref name="path"/>.</summary>
    public static void Save(ResidualCnn model, long[] sampleShape, string path) =>
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(Export(model, sampleShape)));

    private static string Conv(OnnxGraphBuilder builder, Conv2d conv, string input, string name)
    {
        var inputs = new List<string> { input, builder.AddInitializer($"{name}.weight", conv.weight!) };
        if (conv.bias is not null)
        {
            inputs.Add(builder.AddInitializer($"{name}.bias", conv.bias));
        }

        long kernel = conv.weight!.shape[2], pad = conv.padding is null ? 0 : conv.padding[0], stride = conv.stride[0];
        return Node(builder, "Conv", inputs, name,
            OnnxAttributes.Ints("kernel_shape", kernel, conv.weight.shape[3]),
            OnnxAttributes.Ints("strides", stride, stride),
            OnnxAttributes.Ints("pads", pad, pad, pad, pad));
    }

    // Inference-mode BatchNormalization with the running statistics, left unfused on purpose.
    private static string Norm(OnnxGraphBuilder builder, BatchNorm2d norm, string input, string name) =>
        Node(builder, "BatchNormalization",
            [
                input,
                builder.AddInitializer($"{name}.weight", norm.weight!),
                builder.AddInitializer($"{name}.bias", norm.bias!),
                builder.AddInitializer($"{name}.running_mean", norm.running_mean!),
                builder.AddInitializer($"{name}.running_var", norm.running_var!),
            ],
            name,
            OnnxAttributes.Float("epsilon", (float)norm.eps),
            OnnxAttributes.Float("momentum", 0.9f));

    private static string Relu(OnnxGraphBuilder builder, string input, string name) => Node(builder, "Relu", [input], name);

    private static string Node(OnnxGraphBuilder builder, string opType, IReadOnlyList<string> inputs, string name, params AttributeProto[] attributes) =>
        builder.AddNode(opType, inputs, [builder.UniqueName(name)], "", attributes)[0];
}
