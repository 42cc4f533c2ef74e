using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Audit.Testing.Onnx;
using Audit.Testing.Vision;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

[Collection(NativeTorch.Collection)]
public sealed class ResidualCnnOnnxExporterTests
{
    /// <summary>
    /// The residual export (opset 11, unfused BatchNormalization, Add shortcuts, GlobalAveragePool) computes what the
    /// module computes, in ONNX Runtime and in our importer, with batch norms whose running statistics are far from
    /// the identity (so a dropped or misplaced normalisation shows). Nine batch norms: the stem, two per block, and
    /// the two projection shortcuts.
    /// </summary>
    [Fact]
    public void ExportedResNet_RunsInOnnxRuntimeAndOurImporter_WithTheModulesOutputs()
    {
        torch.manual_seed(5);
        using var model = new ResidualCnn(3, 43, [8, 16, 24]);
        model.train();
        using (torch.no_grad())
        {
            for (int i = 0; i < 3; i++)
            {
                using var warm = model.forward(torch.randn(8, 3, 32, 32).Mul(2).Add(0.5));
            }
        }

        model.eval();
        using var scope = torch.NewDisposeScope();
        Tensor input = torch.rand(5, 3, 32, 32);
        Tensor expected;
        using (torch.no_grad())
        {
            expected = model.forward(input);
        }

        global::Onnx.ModelProto proto = ResidualCnnOnnxExporter.Export(model, [3, 32, 32]);
        float[] runtime = SequentialOnnxExporterTests.RunOnnxRuntime(proto.ToByteArray(), input);
        using OnnxGraph graph = OnnxModelLoader.Load(proto.ToByteArray(), ComputeDevice.Cpu);
        Tensor imported;
        using (torch.no_grad())
        {
            imported = graph.Forward(input);
        }

        float[] wanted = expected.data<float>().ToArray(), ours = imported.data<float>().ToArray();
        Assert.Equal(wanted.Length, runtime.Length);
        Assert.Equal(wanted.Length, ours.Length);
        for (int i = 0; i < wanted.Length; i++)
        {
            Assert.True(Math.Abs(wanted[i] - runtime[i]) <= 1e-4 + 1e-4 * Math.Abs(wanted[i]), $"logit {i}: torch {wanted[i]} vs ORT {runtime[i]}");
            Assert.True(Math.Abs(wanted[i] - ours[i]) <= 1e-4 + 1e-4 * Math.Abs(wanted[i]), $"logit {i}: torch {wanted[i]} vs imported {ours[i]}");
        }

        Assert.Equal(11, proto.OpsetImport.Single().Version);
        Assert.Equal(1 + (2 * 3) + 2, proto.Graph.Node.Count(n => n.OpType == "BatchNormalization"));
        Assert.Equal(3, proto.Graph.Node.Count(n => n.OpType == "Add"));
        Assert.Single(proto.Graph.Node, n => n.OpType == "MaxPool");
        Assert.Equal("N", proto.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
    }
}
