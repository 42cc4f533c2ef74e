using Audit.Evaluators.Onnx.Operators;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

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
    /// Applies, in order: BatchNormalization folded into the Conv before it, then Relu moved after the MaxPool
    /// it feeds. Folded weights are added to <paramref name="owned"/>. Returns null when nothing was rewritten.
    /// </summary>
    public static RewrittenNodes? Rewrite(IReadOnlyList<Compiled> nodes, IEnumerable<string> graphOutputs, IReadOnlyDictionary<string, Tensor> initializers, List<Tensor> owned)
    {
        string[] outputs = [.. graphOutputs];
        List<string> hidden = [];
        List<Compiled> current = FoldBatchNormIntoConv(nodes, outputs, initializers, owned, hidden);
        current = PoolBeforeRelu(current, outputs, hidden);
        return hidden.Count == 0 ? null : new RewrittenNodes([.. current.Select(c => c.Node)], hidden);
    }

    /// <summary>How many times each value is read by a node or returned as a graph output.</summary>
    private static Dictionary<string, int> Uses(IReadOnlyList<Compiled> nodes, IEnumerable<string> graphOutputs)
    {
        Dictionary<string, int> uses = new(StringComparer.Ordinal);
        foreach (string name in nodes.SelectMany(n => n.Node.Inputs).Concat(graphOutputs).Where(n => n.Length > 0))
        {
            uses[name] = uses.GetValueOrDefault(name) + 1;
        }

        return uses;
    }

    /// <summary>
    /// Inference BatchNormalization with constant statistics is a per-channel affine map, so a Conv whose only
    /// reader it is can absorb it: W' = W * s and b' = (b - mean) * s + B with s = scale / sqrt(var + epsilon),
    /// computed once in double precision. Exact in real arithmetic (float results differ in the last bits);
    /// the gradient with respect to the input is the same map. Weights and statistics must be initializers.
    /// </summary>
    private static List<Compiled> FoldBatchNormIntoConv(IReadOnlyList<Compiled> nodes, string[] graphOutputs, IReadOnlyDictionary<string, Tensor> initializers, List<Tensor> owned, List<string> hidden)
    {
        Dictionary<string, int> uses = Uses(nodes, graphOutputs);
        Dictionary<string, int> convProducing = new(StringComparer.Ordinal);
        for (int k = 0; k < nodes.Count; k++)
        {
            CompiledNode node = nodes[k].Node;
            bool constantWeights = node.Inputs.Length is 2 or 3 && node.Inputs.Skip(1).All(i => i.Length == 0 || initializers.ContainsKey(i));
            if (nodes[k].OpType == "Conv" && constantWeights && node.Outputs.Length == 1 && uses.GetValueOrDefault(node.Outputs[0]) == 1)
            {
                convProducing[node.Outputs[0]] = k;
            }
        }

        Compiled?[] result = [.. nodes];
        for (int k = 0; k < nodes.Count; k++)
        {
            (string opType, NodeContext context, CompiledNode node) = nodes[k];
            if (opType != "BatchNormalization" || node.Inputs.Length != 5 || node.Outputs.Count(o => o.Length > 0) != 1
                || !convProducing.TryGetValue(node.Inputs[0], out int c)
                || node.Inputs.Skip(1).Any(i => !initializers.ContainsKey(i)))
            {
                continue;
            }

            Compiled conv = nodes[c];
            Tensor weight = initializers[conv.Node.Inputs[1]];
            Tensor? bias = conv.Node.Inputs.Length > 2 && conv.Node.Inputs[2].Length > 0 ? initializers[conv.Node.Inputs[2]] : null;
            Tensor[] statistics = [.. node.Inputs.Skip(1).Select(i => initializers[i])];
            long channels = weight.dim() >= 3 ? weight.shape[0] : -1;
            if (!Kernels.IsFloating(weight.dtype) || channels < 0 || statistics.Any(t => t.numel() != channels || t.dtype != weight.dtype))
            {
                continue;
            }

            (Tensor folded, Tensor foldedBias) = Fold(weight, bias, statistics, context.Float("epsilon", 1e-5f));
            owned.Add(folded);
            owned.Add(foldedBias);
            OnnxKernel convKernel = conv.Node.Kernel;
            OnnxKernel kernel = i => convKernel([i[0], folded, foldedBias]);
            result[c] = null;
            result[k] = new Compiled("Conv", conv.Context, new CompiledNode($"{conv.Node.Describe} + {node.Describe} (folded)", [conv.Node.Inputs[0]], node.Outputs, kernel));
            hidden.Add(conv.Node.Outputs[0]);
        }

        return [.. result.OfType<Compiled>()];
    }

    private static (Tensor Weight, Tensor Bias) Fold(Tensor weight, Tensor? bias, Tensor[] statistics, double epsilon)
    {
        using DisposeScope scope = torch.NewDisposeScope();
        Tensor[] s64 = [.. statistics.Select(t => t.to_type(ScalarType.Float64).flatten())];
        (Tensor scale, Tensor shift, Tensor mean, Tensor variance) = (s64[0], s64[1], s64[2], s64[3]);
        Tensor factor = scale.div(variance.Add(epsilon).sqrt());
        long[] broadcast = [-1, .. Enumerable.Repeat(1L, (int)weight.dim() - 1)];
        Tensor folded = weight.to_type(ScalarType.Float64).mul(factor.reshape(broadcast)).to_type(weight.dtype).contiguous();
        Tensor b = bias is null ? torch.zeros_like(mean) : bias.to_type(ScalarType.Float64).flatten();
        Tensor foldedBias = b.sub(mean).mul(factor).Add(shift).to_type(weight.dtype);
        folded.DetachFromDisposeScope();
        foldedBias.DetachFromDisposeScope();
        return (folded, foldedBias);
    }

    /// <summary>
    /// Relu followed by MaxPool, where the Relu's output feeds nothing else and is not a graph output, becomes
    /// one node that pools first and applies Relu to the pooled (4x smaller, for 2x2) tensor
    /// (<see cref="PoolingOperators.BuildMaxPoolThenRelu"/>).
    /// </summary>
    private static List<Compiled> PoolBeforeRelu(List<Compiled> nodes, string[] graphOutputs, List<string> hidden)
    {
        Dictionary<string, int> uses = Uses(nodes, graphOutputs);
        Dictionary<string, int> reluProducing = new(StringComparer.Ordinal);
        for (int k = 0; k < nodes.Count; k++)
        {
            CompiledNode node = nodes[k].Node;
            if (nodes[k].OpType == "Relu" && node.Inputs.Length == 1 && node.Outputs.Length == 1 && uses.GetValueOrDefault(node.Outputs[0]) == 1)
            {
                reluProducing[node.Outputs[0]] = k;
            }
        }

        Compiled?[] result = [.. nodes];
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
            result[k] = new Compiled("MaxPool", context, new CompiledNode($"{reluNode.Describe} + {node.Describe} (pooled first)", [reluNode.Inputs[0], .. node.Inputs[1..]], node.Outputs, fused));
            hidden.Add(reluNode.Outputs[0]);
        }

        return [.. result.OfType<Compiled>()];
    }
}
