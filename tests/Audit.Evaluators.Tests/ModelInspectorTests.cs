using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;
using Google.Protobuf;
using Onnx;

namespace Audit.Evaluators.Tests;

public sealed class ModelInspectorTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("inspector").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(ModelProto model)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static ModelProto MatMulModel(Action<TensorProto>? tamper = null)
    {
        var weight = new TensorProto { Name = "w", DataType = 1, RawData = ByteString.CopyFrom(new byte[4 * 6]) };
        weight.Dims.Add(2);
        weight.Dims.Add(3);
        tamper?.Invoke(weight);
        var graph = new GraphProto { Name = "g" };
        graph.Initializer.Add(weight);
        graph.Input.Add(Value("x", 1, "batch", "2"));
        graph.Output.Add(Value("y", 1, "batch", "3"));
        var node = new NodeProto { OpType = "MatMul" };
        node.Input.Add("x");
        node.Input.Add("w");
        node.Output.Add("y");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "unit-test" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        return model;
    }

    private static ValueInfoProto Value(string name, int type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (string dim in dims)
        {
            shape.Dim.Add(long.TryParse(dim, out long v) ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = dim });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type, Shape = shape } } };
    }

    [Fact]
    public void Inspect_ReportsInterfaceOperatorsAndParameters()
    {
        ModelInventory inventory = ModelInspector.Inspect(Write(MatMulModel()));

        Assert.Equal(8, inventory.IrVersion);
        Assert.Equal(17, inventory.Opsets[""]);
        Assert.Equal("unit-test", inventory.Producer);
        TensorDescription input = Assert.Single(inventory.Inputs);
        Assert.Equal(new[] { "batch", "2" }, input.Shape);
        Assert.Equal("float", input.ElementType);
        Assert.Equal(6, inventory.ParameterCount);
        Assert.Equal(24, inventory.ParameterBytes);
        Assert.Equal(1, inventory.OperatorCounts["MatMul"]);
        Assert.Empty(inventory.UnsupportedOperators);
    }

    [Fact]
    public void Inspect_ListsOperatorsTheImporterCannotRun()
    {
        ModelProto model = MatMulModel();
        model.Graph.Node[0].OpType = "LSTM";

        ModelInventory inventory = ModelInspector.Inspect(Write(model));

        Assert.Equal(new[] { "LSTM" }, inventory.UnsupportedOperators);
    }

    [Fact]
    public void Inspect_WithExternalData_IsRejected()
    {
        string path = Write(MatMulModel(w =>
        {
            w.RawData = ByteString.Empty;
            w.DataLocation = TensorProto.Types.DataLocation.External;
            w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "../../../etc/passwd" });
        }));

        ModelRejectedException rejected = Assert.Throws<ModelRejectedException>(() => ModelInspector.Inspect(path));
        Assert.Equal(ModelRejectionReason.ExternalData, rejected.Reason);
    }

    [Fact]
    public void Inspect_WithForeignDomain_IsRejected()
    {
        ModelProto model = MatMulModel();
        model.Graph.Node[0].Domain = "com.evil";

        Assert.Equal(ModelRejectionReason.UnknownDomain, Assert.Throws<ModelRejectedException>(() => ModelInspector.Inspect(Write(model))).Reason);
    }

    [Fact]
    public void Inspect_WithNegativeDimension_IsRejected()
    {
        string path = Write(MatMulModel(w => w.Dims[0] = -5));

        Assert.Equal(ModelRejectionReason.LimitExceeded, Assert.Throws<ModelRejectedException>(() => ModelInspector.Inspect(path)).Reason);
    }

    [Fact]
    public void Inspect_OfAPickle_IsRejectedAsNotOnnx()
    {
        string path = Path.Combine(_directory, "model.pkl");
        File.WriteAllBytes(path, [0x80, 0x04, 0x95, 0x10, 0x00, 0x63, 0x6f, 0x73, 0x0a, 0x73, 0x79, 0x73, 0x74, 0x65, 0x6d, 0x2e]);

        Assert.Equal(ModelRejectionReason.Malformed, Assert.Throws<ModelRejectedException>(() => ModelInspector.Inspect(path)).Reason);
    }
}
