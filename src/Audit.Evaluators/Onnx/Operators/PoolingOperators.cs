using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool.</summary>
internal static class PoolingOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("MaxPool", 1, BuildMaxPool);
        r.Add("AveragePool", 1, BuildAveragePool);
        r.Add("GlobalAveragePool", 1, _ => i => [i[0]!.mean(SpatialDims(i[0]!), keepdim: true)]);
        r.Add("GlobalMaxPool", 1, _ => i => [i[0]!.amax(SpatialDims(i[0]!), keepdim: true)]);
    }

    private static long[] SpatialDims(Tensor x) => [.. Enumerable.Range(2, (int)x.dim() - 2).Select(d => (long)d)];

    private sealed record PoolAttributes(string AutoPad, long[] Kernel, long[]? Pads, long[] Strides, long[] Dilations, bool CeilMode);

    private static PoolAttributes ReadAttributes(NodeContext ctx)
    {
        long[] kernel = ctx.Ints("kernel_shape") ?? throw new InvalidOperationException($"{ctx.Describe} has no kernel_shape.");
        return new PoolAttributes(
            ctx.String("auto_pad", "NOTSET"),
            kernel,
            ctx.Ints("pads"),
            ctx.Ints("strides") ?? ConvolutionOperators.Ones(kernel.Length),
            ctx.Ints("dilations") ?? ConvolutionOperators.Ones(kernel.Length),
            ctx.Int("ceil_mode", 0) == 1);
    }

    /// <summary>
    /// Below this many input elements one libtorch max_pool call beats several elementwise ones (measured for a
    /// 2x2 pool on 16 channels, one thread: 4 µs vs 9 µs at 16x8x8, 12 vs 10 µs at 16x16x16, 52 vs 15 µs at
    /// 16x28x28, a single Fashion-MNIST image's first pooling).
    /// </summary>
    private const long SeparableMinimumElements = 1 << 12;

    /// <summary>
    /// With several libtorch threads every elementwise call of the separable form opens a parallel region, which a
    /// single image does not pay back: measured idle with two threads, the CNN's batch-1 forward took 0.149 ms with
    /// the one-thread threshold against 0.101 ms for the hand-written module. There the threshold is the earlier 32k.
    /// </summary>
    private static long SeparableThreshold() => torch.get_num_threads() > 1 ? SeparableMinimumElements * 8 : SeparableMinimumElements;

    private static OnnxKernel BuildMaxPool(NodeContext ctx)
    {
        if (ctx.HasOutput(1))
        {
            throw ctx.Unsupported("Indices output");
        }

        if (ctx.Int("storage_order", 0) != 0)
        {
            throw ctx.Unsupported("storage_order=1");
        }

        PoolAttributes a = ReadAttributes(ctx);
        long[] effective = [.. a.Kernel.Select((k, d) => ((k - 1) * a.Dilations[d]) + 1)];
        return i =>
        {
            Tensor x = i[0]!;
            int n = a.Kernel.Length;
            long[] shape = x.shape;
            (long[] begin, long[] end) = Padding.Resolve(a.AutoPad, a.Pads, shape[2..], effective, a.Strides, ctx);
            // The separable form is for inference on tensors large enough for it to pay off its extra
            // dispatches; under autograd libtorch's kernel keeps its cheaper backward.
            bool differentiating = x.requires_grad && torch.is_grad_enabled();
            if (!differentiating && shape.Aggregate(1L, (p, d) => p * d) >= SeparableThreshold()
                && Kernels.IsFloating(x.dtype) && SeparableMax(x, a, effective, begin, end) is { } fast)
            {
                return [fast];
            }

            long[] padding = begin;
            // libtorch pads symmetrically and at most half a kernel; anything else is padded here with -inf.
            if (!Padding.Symmetric(begin, end) || begin.Where((p, d) => p > a.Kernel[d] / 2).Any())
            {
                x = F.pad(x, Padding.TorchOrder(begin, end), value: double.NegativeInfinity);
                padding = new long[n];
            }

            return [n switch
            {
                1 => F.max_pool2d(x.unsqueeze(-1), [a.Kernel[0], 1], [a.Strides[0], 1], [padding[0], 0], [a.Dilations[0], 1], a.CeilMode).squeeze(-1),
                2 => F.max_pool2d(x, a.Kernel, a.Strides, padding, a.Dilations, a.CeilMode),
                3 => F.max_pool3d(x, a.Kernel, a.Strides, padding, a.Dilations, a.CeilMode),
                _ => throw ctx.Unsupported($"{n} spatial dimensions"),
            }];
        };
    }

    /// <summary>
    /// Max pooling as a running elementwise maximum over strided views, one spatial dimension at a time
    /// (the max over a box is the max over rows of the max over columns). libtorch's CPU max_pool2d kernel
    /// was measured about 10x slower than this on the Fashion-MNIST CNN (docs/benchmarks.md), and pooling
    /// dominated the forward pass. Values are identical. Used only when no gradient is being recorded, since
    /// its backward (masks over strided views) is slower than libtorch's index-based one and would share the
    /// gradient between exact ties. Returns null where the output size would differ
    /// from ONNX's (ceil mode with a partial last window), so the caller falls back to libtorch.
    /// </summary>
    private static Tensor? SeparableMax(Tensor x, PoolAttributes a, long[] effective, long[] begin, long[] end)
    {
        int n = a.Kernel.Length;
        long[] sizes = x.shape[2..];
        long[] outputs = new long[n];
        for (int d = 0; d < n; d++)
        {
            long span = sizes[d] + begin[d] + end[d] - effective[d];
            if (span < 0 || (a.CeilMode && span % a.Strides[d] != 0))
            {
                return null;
            }

            outputs[d] = (span / a.Strides[d]) + 1;
        }

        Tensor y = begin.Any(p => p != 0) || end.Any(p => p != 0)
            ? F.pad(x, Padding.TorchOrder(begin, end), value: double.NegativeInfinity)
            : x;
        for (int d = 0; d < n; d++)
        {
            int dim = d + 2;
            long step = a.Strides[d];
            long length = ((outputs[d] - 1) * step) + 1;
            Tensor? m = null;
            for (long k = 0; k < a.Kernel[d]; k++)
            {
                long start = k * a.Dilations[d];
                Tensor window = y.slice(dim, start, start + length, step);
                m = m is null ? window : torch.maximum(m, window);
            }

            y = a.Kernel[d] == 1 && ReferenceEquals(y, x) ? m!.alias() : m!;
        }

        return y;
    }

    /// <summary>
    /// A Relu feeding only this MaxPool, run as MaxPool then Relu: the two commute (max is monotone and
    /// relu(max(a, b)) = max(relu(a), relu(b)), NaN included), so Relu touches a quarter of the values of a
    /// 2x2 pool. Returns null where they might not commute: a window lying wholly in the padding (pads not
    /// smaller than the kernel, dilation, ceil mode) would give -inf instead of 0. When no gradient is
    /// recorded Relu runs in place on the freshly pooled tensor (a window of more than one element never
    /// aliases the input). Under autograd the gradient is the same as the original order's: both send it to
    /// the window's maximum when that is positive, and nowhere otherwise. Where the pooling would run on
    /// libtorch's max_pool2d over an NCHW tensor the kernel keeps Relu first (see below).
    /// </summary>
    public static OnnxKernel? BuildMaxPoolThenRelu(NodeContext ctx)
    {
        if (ctx.HasOutput(1) || ctx.Int("storage_order", 0) != 0)
        {
            return null;
        }

        PoolAttributes a = ReadAttributes(ctx);
        bool padsWithinKernel = a.Pads is null || a.Pads.Select((p, k) => p >= 0 && p < a.Kernel[k % a.Kernel.Length]).All(ok => ok);
        if (a.CeilMode || a.Dilations.Any(d => d != 1) || !a.Kernel.Any(k => k >= 2) || !padsWithinKernel)
        {
            return null;
        }

        OnnxKernel pool = BuildMaxPool(ctx);
        return i =>
        {
            Tensor x = i[0]!;
            bool differentiating = x.requires_grad && torch.is_grad_enabled();
            if ((differentiating || x.numel() < SeparableThreshold()) && !IsChannelsLast(x))
            {
                // libtorch's max_pool2d on NCHW tensors branches per element and was measured slower on signed
                // values than on ReLU's output (fwd 0.19 vs 0.15 ms for the CNN at batch 1, 10.6 vs 8.3 ms at 64),
                // more than the smaller ReLU saves: keep the original order there.
                return pool([x.relu()]);
            }

            Tensor y = pool(i)[0];
            return [differentiating ? y.relu() : y.relu_()];
        };
    }

    /// <summary>Channels-last strides on a 4-D tensor with more than one channel.</summary>
    private static bool IsChannelsLast(Tensor x) => x.dim() == 4 && x.shape[1] > 1 && x.stride(1) == 1;

    private static OnnxKernel BuildAveragePool(NodeContext ctx)
    {
        PoolAttributes a = ReadAttributes(ctx);
        if (a.Dilations.Any(d => d != 1))
        {
            throw ctx.Unsupported("dilations other than 1");
        }

        bool countIncludePad = ctx.Int("count_include_pad", 0) == 1;
        return i =>
        {
            Tensor x = i[0]!;
            int n = a.Kernel.Length;
            (long[] begin, long[] end) = Padding.Resolve(a.AutoPad, a.Pads, x.shape[2..], a.Kernel, a.Strides, ctx);
            bool native = Padding.Symmetric(begin, end) && !begin.Where((p, d) => p > a.Kernel[d] / 2).Any();
            if (native)
            {
                return [Pool(x, a.Kernel, a.Strides, begin, a.CeilMode, countIncludePad, null, ctx)];
            }

            // Asymmetric padding: pad explicitly and divide window sums by the count of real (or all) cells.
            Tensor padded = F.pad(x, Padding.TorchOrder(begin, end));
            long[] zero = new long[n];
            if (countIncludePad)
            {
                return [Pool(padded, a.Kernel, a.Strides, zero, a.CeilMode, true, null, ctx)];
            }

            Tensor sums = Pool(padded, a.Kernel, a.Strides, zero, a.CeilMode, true, 1, ctx);
            Tensor mask = F.pad(torch.ones_like(x), Padding.TorchOrder(begin, end));
            Tensor counts = Pool(mask, a.Kernel, a.Strides, zero, a.CeilMode, true, 1, ctx);
            return [sums.div(counts)];
        };
    }

    private static Tensor Pool(Tensor x, long[] kernel, long[] strides, long[] padding, bool ceil, bool includePad, long? divisor, NodeContext ctx) =>
        kernel.Length switch
        {
            1 => F.avg_pool2d(x.unsqueeze(-1), [kernel[0], 1], [strides[0], 1], [padding[0], 0], ceil, includePad, divisor).squeeze(-1),
            2 => F.avg_pool2d(x, kernel, strides, padding, ceil, includePad, divisor),
            3 => F.avg_pool3d(x, kernel, strides, padding, ceil, includePad, divisor),
            _ => throw ctx.Unsupported($"{kernel.Length} spatial dimensions"),
        };
}
