using Audit.Evaluators.Onnx.Operators;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// Import-time rewrites that compute a graph's outputs with less work. Each one stops some intermediate
/// value from being computed; <see cref="OnnxGraph"/> runs the rewritten plan only when a run neither
/// captures nor replaces such a value, and the plain node-by-node plan otherwise, so every named value
/// stays addressable.
/// </summary>
internal static class GraphRewrites
{
    /// <summary>A compiled node with what it was compiled from.</summary>
    internal sealed record Compiled(string OpType, NodeContext Context, CompiledNode Node);

    /// <summary>
    /// Relu followed by MaxPool, where the Relu's output feeds nothing else and is not a graph output, becomes
    /// one node that pools first and applies Relu to the pooled (4x smaller, for 2x2) tensor
    /// (<see cref="PoolingOperators.BuildMaxPoolThenRelu"/>). Returns null when nothing was rewritten.
    /// </summary>
    public static RewrittenNodes? Rewrite(IReadOnlyList<Compiled> nodes, IEnumerable<string> graphOutputs)
    {
        Dictionary<string, int> uses = new(StringComparer.Ordinal);
        foreach (string name in nodes.SelectMany(n => n.Node.Inputs).Concat(graphOutputs).Where(n => n.Length > 0))
        {
            uses[name] = uses.GetValueOrDefault(name) + 1;
        }

        Dictionary<string, int> reluProducing = new(StringComparer.Ordinal);
        for (int k = 0; k < nodes.Count; k++)
        {
            CompiledNode node = nodes[k].Node;
            if (nodes[k].OpType == "Relu" && node.Inputs.Length == 1 && node.Outputs.Length == 1 && uses.GetValueOrDefault(node.Outputs[0]) == 1)
            {
                reluProducing[node.Outputs[0]] = k;
            }
        }

        CompiledNode?[] result = [.. nodes.Select(n => n.Node)];
        List<string> hidden = [];
        for (int k = 0; k < nodes.Count; k++)
        {
            (string opType, NodeContext context, CompiledNode node) = nodes[k];
            if (opType != "MaxPool" || node.Inputs.Length == 0 || !reluProducing.TryGetValue(node.Inputs[0], out int relu)
                || PoolingOperators.BuildMaxPoolThenRelu(context) is not { } fused)
            {
                continue;
            }

            CompiledNode reluNode = nodes[relu].Node;
            result[relu] = null;
            result[k] = new CompiledNode($"{reluNode.Describe} + {node.Describe} (pooled first)", [reluNode.Inputs[0], .. node.Inputs[1..]], node.Outputs, fused);
            hidden.Add(reluNode.Outputs[0]);
        }

        return hidden.Count == 0 ? null : new RewrittenNodes([.. result.OfType<CompiledNode>()], hidden);
    }
}
