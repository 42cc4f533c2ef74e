using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Conv and ConvTranspose over 1, 2 or 3 spatial dimensions, straight onto libtorch's convolutions.</summary>
internal static class ConvolutionOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("Conv", 1, BuildConv);
        r.Add("ConvTranspose", 1, BuildConvTranspose);
    }

    private static OnnxKernel BuildConv(NodeContext ctx)
    {
        string autoPad = ctx.String("auto_pad", "NOTSET");
        long[]? pads = ctx.Ints("pads");
        long[]? stridesAttr = ctx.Ints("strides");
        long[]? dilationsAttr = ctx.Ints("dilations");
        long group = ctx.Int("group", 1);
        long[]? kernelShape = ctx.Ints("kernel_shape");
        if (kernelShape is { Length: 2 } && autoPad is "NOTSET" or "VALID" && (pads is null || pads.AsSpan(0, 2).SequenceEqual(pads.AsSpan(2))))
        {
            // The usual exported 2-D convolution: everything is known at import, so a run is one libtorch call.
            long[] fixedStrides = stridesAttr ?? Ones(2);
            long[] fixedDilations = dilationsAttr ?? Ones(2);
            long[] fixedPadding = autoPad == "VALID" || pads is null ? new long[2] : pads[..2];
            return i =>
            {
                Tensor x = i[0]!;
                Tensor w = i[1]!;
                Tensor? b = i.Length > 2 ? i[2] : null;
                if (group == 1 && PrefersChannelsLast(x, w, kernelShape, fixedStrides))
                {
                    x = ChannelsLast(x);
                }

                return [F.conv2d(x, w, b, fixedStrides, fixedPadding, fixedDilations, group)];
            };
        }

        return i =>
        {
            Tensor x = i[0]!;
            Tensor w = i[1]!;
            Tensor? b = i.Length > 2 ? i[2] : null;
            int n = (int)x.dim() - 2;
            long[] strides = stridesAttr ?? Ones(n);
            long[] dilations = dilationsAttr ?? Ones(n);
            long[] kernel = w.shape[2..];
            long[] effective = [.. kernel.Select((k, d) => ((k - 1) * dilations[d]) + 1)];
            (long[] begin, long[] end) = Padding.Resolve(autoPad, pads, x.shape[2..], effective, strides, ctx);
            long[] padding = begin;
            if (!Padding.Symmetric(begin, end))
            {
                x = F.pad(x, Padding.TorchOrder(begin, end));
                padding = new long[n];
            }

            return [n switch
            {
                1 => F.conv2d(x.unsqueeze(-1), w.unsqueeze(-1), b, [strides[0], 1], [padding[0], 0], [dilations[0], 1], group).squeeze(-1),
                2 => F.conv2d(x, w, b, strides, padding, dilations, group),
                3 => F.conv3d(x, w, b, strides, padding, dilations, group),
                _ => throw ctx.Unsupported($"{n} spatial dimensions"),
            }];
        };
    }

    /// <summary>
    /// Runs libtorch's transposed convolution without padding, then crops (or zero-extends) each spatial
    /// dimension to ONNX's begin/end padding and output_padding, then adds the bias, so every ONNX
    /// padding form (asymmetric, output_shape, auto_pad) maps onto one path.
    /// </summary>
    private static OnnxKernel BuildConvTranspose(NodeContext ctx)
    {
        string autoPad = ctx.String("auto_pad", "NOTSET");
        long[]? pads = ctx.Ints("pads");
        long[]? stridesAttr = ctx.Ints("strides");
        long[]? dilationsAttr = ctx.Ints("dilations");
        long[]? outputPaddingAttr = ctx.Ints("output_padding");
        long[]? outputShapeAttr = ctx.Ints("output_shape");
        long group = ctx.Int("group", 1);
        return i =>
        {
            Tensor x = i[0]!;
            Tensor w = i[1]!;
            Tensor? b = i.Length > 2 ? i[2] : null;
            int n = (int)x.dim() - 2;
            long[] strides = stridesAttr ?? Ones(n);
            long[] dilations = dilationsAttr ?? Ones(n);
            long[] outputPadding = outputPaddingAttr ?? new long[n];
            long[] kernel = w.shape[2..];
            long[] input = x.shape[2..];
            long[] full = [.. Enumerable.Range(0, n).Select(d => (strides[d] * (input[d] - 1)) + ((kernel[d] - 1) * dilations[d]) + 1)];
            long[] begin = new long[n];
            long[] end = new long[n];
            long[]? outputShape = outputShapeAttr is null ? null : outputShapeAttr[^n..];
            if (outputShape is null && autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                outputShape = [.. input.Select((s, d) => s * strides[d])];
            }

            if (outputShape is not null)
            {
                for (int d = 0; d < n; d++)
                {
                    long total = full[d] + outputPadding[d] - outputShape[d];
                    // Floor division, as the ONNX reference computes it: a negative total extends the end.
                    long half = (long)Math.Floor(total / 2.0);
                    (begin[d], end[d]) = autoPad == "SAME_UPPER" ? (half, total - half) : (total - half, half);
                }
            }
            else if (autoPad is "NOTSET" or "" && pads is not null)
            {
                Array.Copy(pads, 0, begin, 0, n);
                Array.Copy(pads, n, end, 0, n);
            }

            Tensor y = n switch
            {
                1 => F.conv_transpose2d(x.unsqueeze(-1), w.unsqueeze(-1), null, [strides[0], 1], [0, 0], [0, 0], [dilations[0], 1], group).squeeze(-1),
                2 => F.conv_transpose2d(x, w, null, strides, new long[2], new long[2], dilations, group),
                3 => F.conv_transpose3d(x, w, null, strides, new long[3], new long[3], dilations, group),
                _ => throw ctx.Unsupported($"{n} spatial dimensions"),
            };
            long[] cropBegin = [.. begin.Select(v => -v)];
            long[] cropEnd = [.. end.Select((v, d) => outputPadding[d] - v)];
            if (cropBegin.Any(v => v != 0) || cropEnd.Any(v => v != 0))
            {
                y = F.pad(y, Padding.TorchOrder(cropBegin, cropEnd));
            }

            if (b is not null)
            {
                long[] shape = [1, -1, .. Ones(n)];
                y = y.Add(b.reshape(shape));
            }

            return [y];
        };
    }

    /// <summary>
    /// At most this many multiply-adds per output (input channels x kernel area, e.g. 9 for a 3x3 convolution on
    /// one grey channel, 27 on RGB): the first layer of small image CNNs. On such layers libtorch's CPU
    /// convolution of an NCHW tensor was measured 5x slower than the same call on a channels-last tensor
    /// (9.5 vs 1.8 ms at batch 256, docs/benchmarks.md), where oneDNN has a dedicated kernel; unfold + matrix
    /// product (the earlier choice) took 5.6 ms. For RGB 32x32 input (3 -> 16 channels) the channels-last call,
    /// copy of the input included, took 3.6 instead of 18.6 ms at batch 256 and 0.16 instead of 0.54 ms at batch 8.
    /// </summary>
    private const long SmallReduction = 27;

    /// <summary>
    /// Below this many output positions libtorch does not use oneDNN for a batch of one anyway, and its
    /// native NCHW kernel was faster (0.011 vs 0.043 ms for one Fashion-MNIST image).
    /// </summary>
    private const long ChannelsLastMinimumPositions = 4096;

    /// <summary>
    /// Whether to hand a float CPU convolution with a small per-output reduction a channels-last input. Its
    /// output is then channels-last too (same values, NCHW shape, other strides): ReLU, pooling and the next
    /// convolution keep that layout and run faster on it, and a later Flatten or Reshape copies into NCHW order.
    /// </summary>
    private static bool PrefersChannelsLast(Tensor x, Tensor w, long[] kernel, long[] strides)
    {
        if (x.dim() != 4 || x.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU)
        {
            return false;
        }

        long[] xs = x.shape;
        long positions = xs[0] * (xs[2] / strides[0]) * (xs[3] / strides[1]);
        return w.shape[1] * kernel[0] * kernel[1] <= SmallReduction && positions >= ChannelsLastMinimumPositions;
    }

    /// <summary>
    /// The same values with channels-last strides. With one channel that is a free view (NHW1 permuted);
    /// otherwise one copy of the (small) input. Autograd flows through both.
    /// </summary>
    private static Tensor ChannelsLast(Tensor x)
    {
        long[] s = x.shape;
        return s[1] == 1
            ? x.reshape(s[0], s[2], s[3], 1).permute(0, 3, 1, 2)
            : x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }

    internal static long[] Ones(int n) => [.. Enumerable.Repeat(1L, n)];
}
