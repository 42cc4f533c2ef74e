using Onnx;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// Tells a channels-last image input (<c>[N, H, W, C]</c>, as Keras models exported by tf2onnx declare it) from a
/// channels-first one (<c>[N, C, H, W]</c>, as PyTorch exports it).
/// </summary>
internal static class ImageLayouts
{
    /// <summary>
    /// Inputs that a Transpose with <c>perm = [0, 3, 1, 2]</c> reads directly: tf2onnx keeps the Keras signature
    /// <c>[N, H, W, C]</c> and converts to the <c>[N, C, H, W]</c> its convolutions need with exactly this node.
    /// </summary>
    public static HashSet<string> TransposedToChannelsFirst(GraphProto graph) =>
        new(
            graph.Node
                .Where(n => n.OpType == "Transpose" && OnnxOperatorSupport.IsDefaultDomain(n.Domain) && n.Input.Count > 0
                    && n.Attribute.FirstOrDefault(a => a.Name == "perm") is { } perm && perm.Ints.SequenceEqual([0L, 3, 1, 2]))
                .Select(n => n.Input[0]),
            StringComparer.Ordinal);

    /// <summary>
    /// Whether a rank-4 input is channels-last: a leading Transpose to NCHW says so; without one, a last dimension
    /// of 1, 3 or 4 (grey, RGB, RGBA) where the second is not one of those (shape <c>-1</c> where symbolic).
    /// </summary>
    public static bool IsChannelsLast(string name, IReadOnlyList<long> shape, IReadOnlySet<string> transposed) =>
        shape.Count == 4 && (transposed.Contains(name) || (IsChannels(shape[3]) && !IsChannels(shape[1])));

    private static bool IsChannels(long d) => d is 1 or 3 or 4;
}
