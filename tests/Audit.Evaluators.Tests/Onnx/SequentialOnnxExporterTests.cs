using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

[Collection(NativeTorch.Collection)]
public sealed class SequentialOnnxExporterTests
{
    [Fact]
    public void ExportedCnn_RunsInOnnxRuntime_WithTheModulesOutputs()
    {
        torch.manual_seed(7);
        using var model = nn.Sequential(
            ("conv1", nn.Conv2d(1, 4, 3, padding: 1)),
            ("bn1", HeldScalars.BatchNorm2d(4)),
            ("relu1", nn.ReLU()),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(4, 6, 3, stride: 2)),
#pragma warning disable RS0030 // The exporter must read TorchSharp's own module; its forward (temporary slope Scalar) runs once here.
            ("act2", nn.LeakyReLU(0.1)),
#pragma warning restore RS0030
            ("pool2", nn.AvgPool2d(2, stride: 1)),
            ("flatten", nn.Flatten()),
            ("drop", nn.Dropout(0.5)),
            ("fc1", nn.Linear(24, 16)),
            ("tanh", nn.Tanh()),
            ("fc2", nn.Linear(16, 10)));
        // Give the batch norm non-trivial running statistics, then freeze them.
        model.train();
        using (torch.no_grad())
        {
            for (int i = 0; i < 3; i++)
            {
                using var warm = model.forward(torch.randn(8, 1, 14, 14).Mul(2).Add(0.5));
            }
        }

        model.eval();
        using var input = torch.rand(5, 1, 14, 14);
        float[] expected;
        using (torch.no_grad())
        using (var output = model.forward(input))
        {
            expected = output.data<float>().ToArray();
        }

        var proto = SequentialOnnxExporter.Export(model, [1, 14, 14]);
        float[] actual = RunOnnxRuntime(proto.ToByteArray(), input);

        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 + 1e-4 * Math.Abs(expected[i]), $"logit {i}: torch {expected[i]} vs ORT {actual[i]}");
        }

        Assert.Equal("N", proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(17, proto.OpsetImport.Single().Version);
        Assert.Contains(proto.Graph.Node, n => n.OpType == "BatchNormalization");
        Assert.DoesNotContain(proto.Graph.Node, n => n.OpType == "Dropout");
    }

    [Fact]
    public void ExportedMlp_HasReadableValueNames_ForTheLastLinearInput()
    {
        using var model = nn.Sequential(("flatten", nn.Flatten()), ("hidden", nn.Linear(4, 3)), ("relu", nn.ReLU()), ("head", nn.Linear(3, 2)));

        var proto = SequentialOnnxExporter.Export(model, [2, 2]);

        var gemm = proto.Graph.Node.Last(n => n.OpType == "Gemm");
        Assert.Equal("relu", gemm.Input[0]);
        Assert.Equal("logits", proto.Graph.Output.Single().Name);
    }

    [Fact]
    public void Export_OfAnUnsupportedLayer_IsRefused()
    {
        using var model = nn.Sequential(("shuffle", nn.PixelShuffle(2)));

        Assert.Throws<NotSupportedException>(() => SequentialOnnxExporter.Export(model, [4, 2, 2]));
    }

    [Fact]
    public void Builder_GivesFreshNames_AndSymbolicDimensions()
    {
        var builder = new OnnxGraphBuilder();
        string x = builder.AddInput("x", ScalarType.Float32, "N", 3);
        string a = builder.AddNode("Relu", [x]);
        string b = builder.AddNode("Relu", [a]);
        string shape = builder.AddInitializer("shape", [-1L, 3L]);
        string reshaped = builder.AddNode("Reshape", [b, shape]);
        builder.AddOutput(reshaped, ScalarType.Float32, "N", 3);

        byte[] bytes = builder.ToBytes();
        using var session = new InferenceSession(bytes);
        var tensor = new DenseTensor<float>(new float[] { -1, 2, -3, 4, -5, 6 }, [2, 3]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", tensor)]);

        Assert.NotEqual(a, b);
        Assert.Equal(new float[] { 0, 2, 0, 4, 0, 6 }, results[0].AsEnumerable<float>().ToArray());
    }

    internal static float[] RunOnnxRuntime(byte[] model, torch.Tensor input)
    {
        using var session = new InferenceSession(model);
        float[] data = input.contiguous().data<float>().ToArray();
        var tensor = new DenseTensor<float>(data, input.shape.Select(d => (int)d).ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.First(), tensor)]);
        return results[0].AsEnumerable<float>().ToArray();
    }
}
