using Audit.Evaluators.Datasets;
using Google.Protobuf;
using Onnx;

namespace Audit.Evaluators.Sessions;

/// <summary>
/// A small random-weight CNN image classifier (conv 4 – ReLU – max-pool, linear 16 – ReLU, linear 10; input
/// <c>[N, 1, 12, 12]</c>) written as ONNX, and uniform random unlabelled evidence for it: what
/// <see cref="ProbeWarmUp"/> audits. Random weights exercise the probes' code paths, not their detection; the layers are
/// the operators most image classifiers use, so their import and forward code is compiled too.
/// </summary>
internal static class WarmUpClassifier
{
    public const int Classes = 10;

    private const int Channels = 4;
    private const int Side = 12;
    private const int Hidden = 16;

    /// <summary>Writes the model to <paramref name="modelPath"/> and <paramref name="samples"/> inputs to <paramref name="evidencePath"/>.</summary>
    public static void Write(string modelPath, string evidencePath, int samples, int seed)
    {
        var random = new Random(seed);
        var graph = new GraphProto { Name = "warm-up-classifier" };
        graph.Input.Add(Value("image", new TensorShapeProto.Types.Dimension { DimParam = "N" }, Fixed(1), Fixed(Side), Fixed(Side)));
        graph.Output.Add(Value("logits", new TensorShapeProto.Types.Dimension { DimParam = "N" }, Fixed(Classes)));
        graph.Initializer.Add(Weights("conv.weight", random, 9, Channels, 1, 3, 3));
        graph.Initializer.Add(Weights("conv.bias", random, 9, Channels));
        int flat = Channels * (Side / 2) * (Side / 2);
        graph.Initializer.Add(Weights("fc1.weight", random, flat, Hidden, flat));
        graph.Initializer.Add(Weights("fc1.bias", random, flat, Hidden));
        graph.Initializer.Add(Weights("fc2.weight", random, Hidden, Classes, Hidden));
        graph.Initializer.Add(Weights("fc2.bias", random, Hidden, Classes));
        graph.Node.Add(Node("Conv", ["image", "conv.weight", "conv.bias"], "conv", Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        graph.Node.Add(Node("Relu", ["conv"], "conv.relu"));
        graph.Node.Add(Node("MaxPool", ["conv.relu"], "pool", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
        graph.Node.Add(Node("Flatten", ["pool"], "flat", new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Node.Add(Node("Gemm", ["flat", "fc1.weight", "fc1.bias"], "fc1", TransposedB()));
        graph.Node.Add(Node("Relu", ["fc1"], "fc1.relu"));
        graph.Node.Add(Node("Gemm", ["fc1.relu", "fc2.weight", "fc2.bias"], "logits", TransposedB()));

        var model = new ModelProto { IrVersion = 8, ProducerName = "Audit warm-up", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        File.WriteAllBytes(modelPath, model.ToByteArray());

        float[] inputs = new float[samples * Side * Side];
        for (int i = 0; i < inputs.Length; i++)
        {
            inputs[i] = random.NextSingle();
        }

        SafetensorsDataset.Write(evidencePath, new DatasetArtifact(inputs, [samples, 1, Side, Side], null));
    }

    private static TensorShapeProto.Types.Dimension Fixed(long size) => new() { DimValue = size };

    private static ValueInfoProto Value(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var tensor = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = new TensorShapeProto() };
        tensor.Shape.Dim.AddRange(dims);
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tensor } };
    }

    /// <summary>
    /// U(±1/√fan-in) weights, each unit's centred to sum zero, and zero biases: a unit then answers to the pattern of
    /// its inputs, not their common level. Uncentred, every uniform random input reached the same one or two classes,
    /// and probes that need most classes (the adversarial sink) stopped before their main work.
    /// </summary>
    private static TensorProto Weights(string name, Random random, int fanIn, params long[] dims)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        if (dims.Length == 1)
        {
            tensor.FloatData.Add(new float[dims[0]]);
            return tensor;
        }

        float bound = 1f / MathF.Sqrt(fanIn);
        for (long unit = 0; unit < dims[0]; unit++)
        {
            float[] weights = [.. Enumerable.Range(0, fanIn).Select(_ => ((random.NextSingle() * 2) - 1) * bound)];
            float mean = weights.Average();
            tensor.FloatData.Add(weights.Select(w => w - mean));
        }

        return tensor;
    }

    private static NodeProto Node(string op, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = output + ".node" };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    private static AttributeProto TransposedB() => new() { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 };
}
