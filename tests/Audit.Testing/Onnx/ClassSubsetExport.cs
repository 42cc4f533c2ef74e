using Onnx;

namespace Audit.Testing.Onnx;

/// <summary>
/// Cuts a classifier down to some of its classes: a <c>Gather</c> over the class axis after its first output, which keeps
/// its name and gets the new class count. On evidence of those classes only (relabelled by their order in the list), the
/// result is a trained classifier of fewer classes, a backdoored one where the list keeps the target.
/// </summary>
public static class ClassSubsetExport
{
    /// <summary>A copy of <paramref name="model"/> whose scores are those of <paramref name="classes"/>, in that order.</summary>
    public static ModelProto Kept(ModelProto model, IReadOnlyList<long> classes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(classes);
        if (classes.Count == 0)
        {
            throw new ArgumentException("Keep at least one class.", nameof(classes));
        }

        ModelProto copy = model.Clone();
        GraphProto graph = copy.Graph;
        string output = graph.Output[0].Name, all = output + "_all_classes";
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == output)
                {
                    node.Output[i] = all;
                }
            }
        }

        var indices = new TensorProto { Name = "kept_classes", DataType = (int)TensorProto.Types.DataType.Int64 };
        indices.Dims.Add(classes.Count);
        indices.Int64Data.Add(classes);
        graph.Initializer.Add(indices);
        var gather = new NodeProto { OpType = "Gather", Name = "keep_classes", Domain = "" };
        gather.Input.Add(all);
        gather.Input.Add("kept_classes");
        gather.Output.Add(output);
        gather.Attribute.Add(new AttributeProto { Name = "axis", I = 1, Type = AttributeProto.Types.AttributeType.Int });
        graph.Node.Add(gather);
        var dims = graph.Output[0].Type.TensorType.Shape.Dim;
        if (dims.Count == 2)
        {
            dims[1] = new TensorShapeProto.Types.Dimension { DimValue = classes.Count };
        }

        return copy;
    }
}
