using Audit.Evaluators.Onnx;
using Google.Protobuf;
using Onnx;

namespace Audit.Evaluators.Tests.Onnx;

public sealed class OnnxStructureCheckTests
{
    private static ModelProto Identity() => new()
    {
        IrVersion = 8,
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = 17 } },
        Graph = new GraphProto
        {
            Name = "g",
            Input = { new ValueInfoProto { Name = "x" } },
            Initializer = { new TensorProto { Name = "w", DataType = 1, Dims = { 2 }, RawData = ByteString.CopyFrom(new byte[8]) } },
            Node = { new NodeProto { Name = "add", OpType = "Add", Input = { "x", "w" }, Output = { "y" } } },
            Output = { new ValueInfoProto { Name = "y" } },
        },
    };

    [Fact]
    public void WellFormedGraph_Passes() => OnnxStructureCheck.Check(Identity());

    public static TheoryData<string> Breakages() =>
        ["raw_data short", "typed data short", "unknown type", "negative opset", "negative ir", "cycle", "undefined input", "produced twice", "output of an input", "duplicate graph output", "undefined graph output", "duplicate initializer"];

    [Theory]
    [MemberData(nameof(Breakages))]
    public void BrokenGraph_IsRejectedAsMalformed(string how)
    {
        ModelProto model = Identity();
        GraphProto graph = model.Graph;
        switch (how)
        {
            case "raw_data short": graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[7]); break;
            case "typed data short": graph.Initializer[0].RawData = ByteString.Empty; graph.Initializer[0].FloatData.Add(1f); break;
            case "unknown type": graph.Initializer[0].DataType = 77; break;
            case "negative opset": model.OpsetImport[0].Version = -1; break;
            case "negative ir": model.IrVersion = -1; break;
            case "cycle":
                graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "b" }, Output = { "a" } });
                graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "a" }, Output = { "b" } });
                break;
            case "undefined input": graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "nowhere" }, Output = { "z" } }); break;
            case "produced twice": graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "x" }, Output = { "y" } }); break;
            case "output of an input": graph.Node.Add(new NodeProto { OpType = "Relu", Input = { "y" }, Output = { "x" } }); break;
            case "duplicate graph output": graph.Output.Add(new ValueInfoProto { Name = "y" }); break;
            case "undefined graph output": graph.Output.Add(new ValueInfoProto { Name = "q" }); break;
            case "duplicate initializer": graph.Initializer.Add(graph.Initializer[0].Clone()); break;
        }

        ModelRejectedException rejected = Assert.Throws<ModelRejectedException>(() => OnnxStructureCheck.Check(model));
        Assert.Equal(ModelRejectionReason.Malformed, rejected.Reason);
    }

    [Fact]
    public void EmptyOptionalInputs_AndNodesOutOfOrder_Pass()
    {
        ModelProto model = Identity();
        model.Graph.Node.Insert(0, new NodeProto { OpType = "Relu", Input = { "y" }, Output = { "r" } });
        model.Graph.Node.Add(new NodeProto { OpType = "Clip", Input = { "r", "", "" }, Output = { "c" } });

        OnnxStructureCheck.Check(model);
    }

    /// <summary>No false rejections: every conformance model the importer parses also passes the structure check.</summary>
    [Fact]
    public void EveryConformanceModelTheImporterParses_Passes()
    {
        string root = OnnxConformance.RequireDataRoot();
        var failures = new List<string>();
        int checkedModels = 0;
        foreach (string file in OnnxConformance.Folders.SelectMany(f => Directory.EnumerateFiles(Path.Combine(root, f), "model.onnx", SearchOption.AllDirectories)))
        {
            ModelProto model;
            try
            {
                model = OnnxModelLoader.Parse(File.ReadAllBytes(file));
            }
            catch (ModelRejectedException)
            {
                continue;
            }
            catch (UnsupportedOperatorException)
            {
                continue;
            }

            checkedModels++;
            try
            {
                OnnxStructureCheck.Check(model);
            }
            catch (ModelRejectedException ex)
            {
                failures.Add($"{Path.GetRelativePath(root, file)}: {ex.Message}");
            }
        }

        Assert.True(checkedModels > 1000, $"only {checkedModels} models checked");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)));
    }
}
