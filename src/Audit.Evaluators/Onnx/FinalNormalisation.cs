using Onnx;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// A classifier whose output is normalised over its classes by a last Softmax or LogSoftmax: where the class scores
/// before it (the logits) live in the graph. Keras classifiers end in a softmax Dense layer, which tf2onnx exports as
/// a Softmax node, and many PyTorch models call softmax in <c>forward</c>; the trojan probes and their fitted
/// statistics read logits.
/// </summary>
/// <param name="OpType"><c>Softmax</c> or <c>LogSoftmax</c>.</param>
/// <param name="Logits">The graph value the normaliser reads: the class scores before it.</param>
public sealed record FinalNormalisation(string OpType, string Logits)
{
    /// <summary>
    /// The normaliser that produces the graph's first output, directly or through Identity nodes, over the class axis of
    /// a <c>[N, C]</c> output (axis 1 or -1; before opset 13 Softmax coerces its input to 2-D at the axis, which for a
    /// rank-2 input is the same map). Null when the first output is not produced so, or is declared with another rank.
    /// </summary>
    /// <remarks>
    /// Why the logits can be read instead: softmax(z) = softmax(z + c) for any per-row c, and log-softmax(z) differs from z
    /// by a per-row constant, so every statistic that goes through a softmax of the scores is the same on the logits, and
    /// one that reads the scores themselves (a margin, a gradient) is then read on the scale it was defined on. Reading
    /// probabilities as logits applies a second softmax: scores squeezed into [0, 1], a near-uniform distribution, and
    /// gradients that vanish where the model is confident.
    /// </remarks>
    public static FinalNormalisation? Of(GraphProto graph, int opset)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.Output.Count == 0)
        {
            return null;
        }

        ValueInfoProto output = graph.Output[0];
        if (output.Type?.TensorType?.Shape is { } declared && declared.Dim.Count != 2)
        {
            return null;
        }

        Dictionary<string, NodeProto> producers = new(StringComparer.Ordinal);
        foreach (NodeProto node in graph.Node)
        {
            foreach (string produced in node.Output.Where(o => o.Length > 0))
            {
                producers[produced] = node;
            }
        }

        string value = output.Name;
        // Identity chains are bounded by the node count (a well-formed graph has no cycle; the bound guards a malformed one).
        for (int hops = 0; hops <= graph.Node.Count && producers.TryGetValue(value, out NodeProto? producer); hops++)
        {
            if (!OnnxOperatorSupport.IsDefaultDomain(producer.Domain) || producer.Input.Count == 0 || producer.Input[0].Length == 0)
            {
                return null;
            }

            if (producer.OpType == "Identity")
            {
                value = producer.Input[0];
                continue;
            }

            if (producer.OpType is not ("Softmax" or "LogSoftmax"))
            {
                return null;
            }

            long axis = producer.Attribute.FirstOrDefault(a => a.Name == "axis") is { } attribute ? attribute.I : opset >= 13 ? -1 : 1;
            return axis is 1 or -1 ? new FinalNormalisation(producer.OpType, producer.Input[0]) : null;
        }

        return null;
    }
}
