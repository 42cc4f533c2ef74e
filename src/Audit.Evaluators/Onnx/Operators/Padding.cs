namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Resolves ONNX spatial padding (explicit <c>pads</c> or <c>auto_pad</c>) for convolutions and pools.</summary>
internal static class Padding
{
    /// <summary>
    /// Begin and end padding per spatial dimension. <paramref name="effectiveKernel"/> is (k - 1) * dilation + 1.
    /// </summary>
    public static (long[] Begin, long[] End) Resolve(string autoPad, long[]? pads, long[] inputSpatial, long[] effectiveKernel, long[] strides, NodeContext ctx)
    {
        int n = inputSpatial.Length;
        long[] begin = new long[n];
        long[] end = new long[n];
        switch (autoPad)
        {
            case "NOTSET" or "":
                if (pads is not null)
                {
                    if (pads.Length != 2 * n)
                    {
                        throw new InvalidOperationException($"{ctx.Describe}: pads has {pads.Length} entries for {n} spatial dimensions.");
                    }

                    Array.Copy(pads, 0, begin, 0, n);
                    Array.Copy(pads, n, end, 0, n);
                }

                break;
            case "VALID":
                break;
            case "SAME_UPPER" or "SAME_LOWER":
                for (int d = 0; d < n; d++)
                {
                    long output = (inputSpatial[d] + strides[d] - 1) / strides[d];
                    long total = Math.Max(0, ((output - 1) * strides[d]) + effectiveKernel[d] - inputSpatial[d]);
                    long small = total / 2;
                    (begin[d], end[d]) = autoPad == "SAME_UPPER" ? (small, total - small) : (total - small, small);
                }

                break;
            default:
                throw ctx.Unsupported($"auto_pad='{autoPad}'");
        }

        return (begin, end);
    }

    /// <summary>torch.nn.functional.pad order: last dimension first, (begin, end) pairs.</summary>
    public static long[] TorchOrder(long[] begin, long[] end)
    {
        long[] result = new long[begin.Length * 2];
        for (int d = 0; d < begin.Length; d++)
        {
            result[2 * d] = begin[begin.Length - 1 - d];
            result[(2 * d) + 1] = end[begin.Length - 1 - d];
        }

        return result;
    }

    public static bool Symmetric(long[] begin, long[] end) => begin.AsSpan().SequenceEqual(end);
}
