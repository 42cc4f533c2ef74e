using Onnx;

namespace Audit.Testing.Onnx;

/// <summary>
/// Appends a class-axis normaliser after a classifier's first output, as exporters write models that return
/// probabilities: tf2onnx turns a Keras softmax Dense layer into a <c>Softmax</c> node (axis -1 from opset 13), and a
/// PyTorch <c>forward</c> that returns <c>F.softmax(logits, 1)</c> or <c>log_softmax</c> exports one too. The output keeps its
/// name, and the scores before it get a new one.
/// </summary>
public static class FinalNormaliserExport
{
    /// <summary>The value name the scores before the normaliser get in the copy.</summary>
    public static string ScoresName(ModelProto model, string opType)
    {
        ArgumentNullException.ThrowIfNull(model);
        return model.Graph.Output[0].Name + "_before_" + opType;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> with <paramref name="opType"/> after its first output (the argument is
    /// unchanged); <paramref name="axis"/> null leaves the opset's default, and <paramref name="identityAfter"/> puts an
    /// Identity between the normaliser and the output, as some exporters do.
    /// </summary>
    public static ModelProto Appended(ModelProto model, string opType = "Softmax", long? axis = 1, bool identityAfter = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ModelProto copy = model.Clone();
        GraphProto graph = copy.Graph;
        string output = graph.Output[0].Name, scores = ScoresName(model, opType);
        foreach (NodeProto node in graph.Node)
        {
            for (int i = 0; i < node.Output.Count; i++)
            {
                if (node.Output[i] == output)
                {
                    node.Output[i] = scores;
                }
            }
        }

        string normalised = identityAfter ? output + "_normalised" : output;
        var normaliser = new NodeProto { OpType = opType, Name = "final_" + opType, Domain = "" };
        normaliser.Input.Add(scores);
        normaliser.Output.Add(normalised);
        if (axis is long a)
        {
            normaliser.Attribute.Add(new AttributeProto { Name = "axis", I = a, Type = AttributeProto.Types.AttributeType.Int });
        }

        graph.Node.Add(normaliser);
        if (identityAfter)
        {
            var identity = new NodeProto { OpType = "Identity", Name = "final_identity", Domain = "" };
            identity.Input.Add(normalised);
            identity.Output.Add(output);
            graph.Node.Add(identity);
        }

        return copy;
    }
}
