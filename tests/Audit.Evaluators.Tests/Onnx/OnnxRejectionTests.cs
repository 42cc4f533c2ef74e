using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Onnx;

[Collection(NativeTorch.Collection)]
public sealed class OnnxRejectionTests
{
    private static ModelProto ReluModel()
    {
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, "N", 4);
        b.AddOutput(b.AddNode("Relu", [x]), ScalarType.Float32, "N", 4);
        return b.Build();
    }

    private static ModelRejectedException Rejected(ModelProto model, OnnxImportLimits? limits = null) =>
        Assert.Throws<ModelRejectedException>(() => OnnxModelLoader.Load(model.ToByteArray(), ComputeDevice.Cpu, limits));

    [Fact]
    public void Import_OfBytesThatAreNotOnnx_IsRejectedAsMalformed()
    {
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x01];
        var error = Assert.Throws<ModelRejectedException>(() => OnnxModelLoader.Load(garbage, ComputeDevice.Cpu));
        Assert.Equal(ModelRejectionReason.Malformed, error.Reason);
    }

    [Fact]
    public void Import_WithExternalData_IsRejected()
    {
        ModelProto model = ReluModel();
        var weight = new TensorProto { Name = "w", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        weight.Dims.Add(4);
        weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../etc/passwd" });
        model.Graph.Initializer.Add(weight);

        Assert.Equal(ModelRejectionReason.ExternalData, Rejected(model).Reason);
    }

    [Fact]
    public void Import_WithAnUnknownDomain_IsRejected()
    {
        ModelProto model = ReluModel();
        model.Graph.Node[0].Domain = "com.example.custom";

        ModelRejectedException error = Rejected(model);
        Assert.Equal(ModelRejectionReason.UnknownDomain, error.Reason);
        Assert.Contains("com.example.custom", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Import_WithAnAbsurdInputDimension_IsRejected()
    {
        ModelProto model = ReluModel();
        model.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue = 1L << 40;

        Assert.Equal(ModelRejectionReason.LimitExceeded, Rejected(model).Reason);
    }

    [Fact]
    public void Import_WithAnInitializerTooLargeForTheLimits_IsRejectedBeforeAllocating()
    {
        ModelProto model = ReluModel();
        var weight = new TensorProto { Name = "w", DataType = 1 };
        weight.Dims.AddRange([1L << 14, 1L << 14]);
        model.Graph.Initializer.Add(weight);

        ModelRejectedException error = Rejected(model, OnnxImportLimits.Default with { MaxTensorElements = 1L << 20 });
        Assert.Equal(ModelRejectionReason.LimitExceeded, error.Reason);
    }

    [Fact]
    public void Import_WithTooHighARank_IsRejected()
    {
        ModelProto model = ReluModel();
        var weight = new TensorProto { Name = "w", DataType = 1 };
        weight.Dims.AddRange(Enumerable.Repeat(1L, 9));
        weight.FloatData.Add(1f);
        model.Graph.Initializer.Add(weight);

        Assert.Equal(ModelRejectionReason.LimitExceeded, Rejected(model).Reason);
    }

    [Fact]
    public void Import_WithDataThatDisagreesWithItsShape_IsRejectedAsMalformed()
    {
        ModelProto model = ReluModel();
        var weight = new TensorProto { Name = "w", DataType = 1 };
        weight.Dims.Add(4);
        weight.FloatData.AddRange([1f, 2f]);
        model.Graph.Initializer.Add(weight);

        Assert.Equal(ModelRejectionReason.Malformed, Rejected(model).Reason);
    }

    [Fact]
    public void Import_WithAnUnsupportedOperator_ListsIt()
    {
        ModelProto model = ReluModel();
        model.Graph.Node[0].OpType = "NonMaxSuppression";

        var error = Assert.Throws<UnsupportedOperatorException>(() => OnnxModelLoader.Load(model.ToByteArray(), ComputeDevice.Cpu));
        Assert.Contains(error.Unsupported, u => u.StartsWith("NonMaxSuppression", StringComparison.Ordinal));
    }

    [Fact]
    public void Import_WithAnUndefinedNodeInput_IsRejectedAsMalformed()
    {
        ModelProto model = ReluModel();
        model.Graph.Node[0].Input[0] = "nowhere";

        Assert.Equal(ModelRejectionReason.Malformed, Rejected(model).Reason);
    }

    [Fact]
    public void Run_WithADataDependentShapeBeyondTheLimits_IsRejected()
    {
        var b = new OnnxGraphBuilder();
        string x = b.AddInput("x", ScalarType.Float32, 1);
        string y = b.AddNode("Expand", [x, b.AddInitializer("shape", [1L << 20, 1L << 20], 2)]);
        b.AddOutput(y, ScalarType.Float32, 1L << 20, 1L << 20);
        using OnnxGraph graph = OnnxModelLoader.Load(b.ToBytes(), ComputeDevice.Cpu);

        var error = Assert.Throws<ModelRejectedException>(() => graph.Forward(torch.ones(1)));
        Assert.Equal(ModelRejectionReason.LimitExceeded, error.Reason);
    }
}
