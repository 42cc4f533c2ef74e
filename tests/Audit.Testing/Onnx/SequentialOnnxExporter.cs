using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing.Onnx;

/// <summary>
/// Exports a TorchSharp <see cref="Sequential"/> of the layer kinds our CNN and MLP fixtures use
/// (Conv2d, Linear, ReLU, LeakyReLU, Sigmoid, Tanh, MaxPool2d, AvgPool2d, Flatten, BatchNorm1d/2d, Dropout)
/// to an ONNX classifier: one float input <c>[N, ...]</c> with a symbolic batch dimension, one output.
/// </summary>
/// <remarks>
/// Value names are stable and readable (<c>features.3</c> is the output of child <c>features.3</c>), so tests
/// and probes can capture the same activations in the TorchSharp module and the imported graph.
/// Dropout is exported as nothing because the exported graph is for inference.
/// </remarks>
public static class SequentialOnnxExporter
{
    /// <summary>Exports <paramref name="model"/> for inputs of shape <c>[N, ..<paramref name="sampleShape"/>]</c>.</summary>
    /// <exception cref="NotSupportedException">A layer kind has no export mapping.</exception>
    public static ModelProto Export(Sequential model, long[] sampleShape, string inputName = "input", string outputName = "logits")
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(sampleShape);
        var builder = new OnnxGraphBuilder("sequential");
        OnnxDim[] inputShape = [OnnxDim.FromString("N"), .. sampleShape.Select(OnnxDim.FromInt64)];
        string current = builder.AddInput(inputName, ScalarType.Float32, inputShape);
        current = EmitChildren(builder, model, "", current);

        // The last node's output is renamed by an Identity so the graph output has the requested name.
        builder.AddNode("Identity", [current], [outputName], "");
        builder.AddOutput(outputName, ScalarType.Float32, OnnxDim.FromString("N"), OnnxDim.FromString("C"));
        return builder.Build();
    }

    /// <summary>Exports and writes the model to <paramref name="path"/>.</summary>
    public static void Save(Sequential model, long[] sampleShape, string path) =>
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(Export(model, sampleShape)));

    private static string EmitChildren(OnnxGraphBuilder builder, Sequential sequential, string prefix, string current)
    {
        foreach ((string name, nn.Module child) in sequential.named_children())
        {
            string path = prefix.Length == 0 ? name : $"{prefix}.{name}";
            current = Emit(builder, child, path, current);
        }

        return current;
    }

    private static string Emit(OnnxGraphBuilder builder, nn.Module module, string path, string input)
    {
        switch (module)
        {
            case Sequential nested:
                return EmitChildren(builder, nested, path, input);

            case Conv2d conv:
            {
                if (conv.padding_mode != PaddingModes.Zeros)
                {
                    throw new NotSupportedException($"Layer '{path}': only zero padding exports to ONNX Conv.");
                }

                long[] pads = ConvPadding(conv, path);
                var inputs = new List<string> { input, builder.AddInitializer($"{path}.weight", conv.weight!) };
                if (conv.bias is not null)
                {
                    inputs.Add(builder.AddInitializer($"{path}.bias", conv.bias));
                }

                return Named(builder, "Conv", inputs, path,
                    OnnxAttributes.Ints("kernel_shape", conv.weight!.shape[2], conv.weight.shape[3]),
                    OnnxAttributes.Ints("strides", Pair(conv.stride)),
                    OnnxAttributes.Ints("pads", pads),
                    OnnxAttributes.Ints("dilations", Pair(conv.dilation)),
                    OnnxAttributes.Int("group", conv.groups));
            }

            case Linear linear:
            {
                var inputs = new List<string> { input, builder.AddInitializer($"{path}.weight", linear.weight!) };
                if (linear.bias is not null)
                {
                    inputs.Add(builder.AddInitializer($"{path}.bias", linear.bias));
                }

                // Linear stores W as [out, in]: Gemm computes X · Wᵀ + b with transB = 1.
                return Named(builder, "Gemm", inputs, path, OnnxAttributes.Int("transB", 1));
            }

            case ReLU:
                return Named(builder, "Relu", [input], path);
            case Sigmoid:
                return Named(builder, "Sigmoid", [input], path);
            case Tanh:
                return Named(builder, "Tanh", [input], path);
            case LeakyReLU leaky:
                return Named(builder, "LeakyRelu", [input], path, OnnxAttributes.Float("alpha", (float)leaky.negative_slope));
            case Dropout or Dropout2d or Identity:
                return input;

            case MaxPool2d pool:
            {
                long[] kernel = Pair(pool.kernel_size);
                long[] stride = pool.stride is null ? kernel : Pair(pool.stride);
                long[] padding = pool.padding is null ? [0, 0] : Pair(pool.padding);
                long[] dilation = pool.dilation is null ? [1, 1] : Pair(pool.dilation);
                return Named(builder, "MaxPool", [input], path,
                    OnnxAttributes.Ints("kernel_shape", kernel),
                    OnnxAttributes.Ints("strides", stride),
                    OnnxAttributes.Ints("pads", padding[0], padding[1], padding[0], padding[1]),
                    OnnxAttributes.Ints("dilations", dilation),
                    OnnxAttributes.Int("ceil_mode", pool.ceil_mode ? 1 : 0));
            }

            case AvgPool2d pool:
            {
                long[] kernel = Pair(pool.kernel_size);
                long[] stride = pool.stride is null ? kernel : Pair(pool.stride);
                long[] padding = pool.padding is null ? [0, 0] : Pair(pool.padding);
                return Named(builder, "AveragePool", [input], path,
                    OnnxAttributes.Ints("kernel_shape", kernel),
                    OnnxAttributes.Ints("strides", stride),
                    OnnxAttributes.Ints("pads", padding[0], padding[1], padding[0], padding[1]),
                    OnnxAttributes.Int("count_include_pad", pool.count_include_pad ? 1 : 0),
                    OnnxAttributes.Int("ceil_mode", pool.ceil_mode ? 1 : 0));
            }

            case Flatten flatten:
            {
                if (flatten.end_dim != -1)
                {
                    throw new NotSupportedException($"Layer '{path}': ONNX Flatten only flattens to the last dimension.");
                }

                return Named(builder, "Flatten", [input], path, OnnxAttributes.Int("axis", flatten.start_dim));
            }

            case BatchNorm norm:
            {
                Tensor runningMean = norm.running_mean ?? throw new NotSupportedException($"Layer '{path}': batch norm without running statistics.");
                Tensor runningVar = norm.running_var!;
                using var scope = torch.NewDisposeScope();
                Tensor scale = norm.weight is null ? torch.ones_like(runningMean) : norm.weight;
                Tensor shift = norm.bias is null ? torch.zeros_like(runningMean) : norm.bias;
                double eps = norm.eps;
                return Named(builder, "BatchNormalization",
                    [
                        input,
                        builder.AddInitializer($"{path}.weight", scale),
                        builder.AddInitializer($"{path}.bias", shift),
                        builder.AddInitializer($"{path}.running_mean", runningMean),
                        builder.AddInitializer($"{path}.running_var", runningVar),
                    ],
                    path,
                    OnnxAttributes.Float("epsilon", (float)eps));
            }

            default:
                throw new NotSupportedException($"Layer '{path}' of type {module.GetType().Name} has no ONNX export mapping.");
        }
    }

    private static string Named(OnnxGraphBuilder builder, string opType, IReadOnlyList<string> inputs, string path, params AttributeProto[] attributes) =>
        builder.AddNode(opType, inputs, [builder.UniqueName(path)], "", attributes)[0];

    private static long[] ConvPadding(Conv2d conv, string path)
    {
        if (conv.padding_type is Padding.Same)
        {
            throw new NotSupportedException($"Layer '{path}': 'same' padding is not exported; give explicit padding.");
        }

        long[] padding = conv.padding is null ? [0, 0] : Pair(conv.padding);
        return [padding[0], padding[1], padding[0], padding[1]];
    }

    private static long[] Pair(long[] values) => values.Length == 1 ? [values[0], values[0]] : [values[0], values[1]];
}
