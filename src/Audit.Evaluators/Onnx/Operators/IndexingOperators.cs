using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Concat, Split, Slice, Gather, GatherElements and Pad.</summary>
internal static class IndexingOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("Concat", 4, ctx =>
        {
            long axis = ctx.Int("axis", 0);
            return i => [torch.cat(i.Select(t => t!).ToArray(), Kernels.Axis(axis, i[0]!.dim()))];
        });
        r.Add("Split", 2, BuildSplit);
        r.Add("Slice", 1, BuildSlice);
        r.Add("Gather", 1, ctx =>
        {
            long axisAttr = ctx.Int("axis", 0);
            return i =>
            {
                Tensor data = i[0]!;
                Tensor indices = i[1]!;
                long axis = Kernels.Axis(axisAttr, data.dim());
                Tensor index = NonNegative(indices, data.shape[axis]);
                long[] shape = [.. data.shape[..(int)axis], .. indices.shape, .. data.shape[((int)axis + 1)..]];
                return [data.index_select(axis, index.flatten()).reshape(shape)];
            };
        });
        r.Add("GatherElements", 11, ctx =>
        {
            long axisAttr = ctx.Int("axis", 0);
            return i =>
            {
                long axis = Kernels.Axis(axisAttr, i[0]!.dim());
                return [i[0]!.gather(axis, NonNegative(i[1]!, i[0]!.shape[axis]))];
            };
        });
        r.Add("Pad", 2, BuildPad);
    }

    /// <summary>ONNX indices may count from the end; libtorch's index_select wants them in 0..n-1.</summary>
    private static Tensor NonNegative(Tensor indices, long size)
    {
        Tensor index = indices.to_type(ScalarType.Int64);
        using Scalar zero = 0.ToScalar();
        return torch.where(index.lt(zero), index.Add(size), index);
    }

    private static OnnxKernel BuildSplit(NodeContext ctx)
    {
        long axisAttr = ctx.Int("axis", 0);
        long[]? splitAttr = ctx.Opset < 13 ? ctx.Ints("split") : null;
        long? numOutputs = ctx.Has("num_outputs") ? ctx.Int("num_outputs", 0) : null;
        int outputs = ctx.OutputCount;
        return i =>
        {
            Tensor x = i[0]!;
            long axis = Kernels.Axis(axisAttr, x.dim());
            long size = x.shape[axis];
            long[]? split = ctx.Opset < 13 ? splitAttr : i.Length > 1 && i[1] is not null ? Kernels.Longs(i[1]!) : null;
            if (split is null)
            {
                long parts = numOutputs ?? outputs;
                // Opset 18: the last chunk may be smaller; before that the split must be even.
                long chunk = (size + parts - 1) / parts;
                split = [.. Enumerable.Range(0, (int)parts).Select(k => Math.Max(0, Math.Min(chunk, size - (k * chunk))))];
            }

            return x.split(split, axis);
        };
    }

    private static OnnxKernel BuildSlice(NodeContext ctx)
    {
        long[]? startsAttr = ctx.Ints("starts");
        long[]? endsAttr = ctx.Ints("ends");
        long[]? axesAttr = ctx.Ints("axes");
        return i =>
        {
            Tensor x = i[0]!;
            long[] starts;
            long[] ends;
            long[]? axes;
            long[]? steps = null;
            if (ctx.Opset < 10)
            {
                starts = startsAttr!;
                ends = endsAttr!;
                axes = axesAttr;
            }
            else
            {
                starts = Kernels.Longs(i[1]!);
                ends = Kernels.Longs(i[2]!);
                axes = i.Length > 3 && i[3] is not null ? Kernels.Longs(i[3]!) : null;
                steps = i.Length > 4 && i[4] is not null ? Kernels.Longs(i[4]!) : null;
            }

            Tensor y = x;
            for (int k = 0; k < starts.Length; k++)
            {
                long axis = Kernels.Axis(axes?[k] ?? k, x.dim());
                long step = steps?[k] ?? 1;
                long dim = x.shape[axis];
                long start = starts[k] < 0 ? starts[k] + dim : starts[k];
                long end = ends[k] < 0 ? ends[k] + dim : ends[k];
                if (step > 0)
                {
                    start = Math.Clamp(start, 0, dim);
                    end = Math.Clamp(end, 0, dim);
                    y = end > start ? y.slice(axis, start, end, step) : y.narrow(axis, 0, 0);
                }
                else
                {
                    // libtorch slices only forwards: gather the backward indices explicitly.
                    start = Math.Clamp(start, 0, dim - 1);
                    end = Math.Clamp(end, -1, dim - 1);
                    long count = start > end ? ((start - end - 1) / -step) + 1 : 0;
                    Tensor index = HeldScalars.Arange(start, start + (count * step), step, ScalarType.Int64, x.device);
                    y = count > 0 ? y.index_select(axis, index) : y.narrow(axis, 0, 0);
                }
            }

            return [ReferenceEquals(y, x) ? x.alias() : y];
        };
    }

    private static OnnxKernel BuildPad(NodeContext ctx)
    {
        string mode = ctx.String("mode", "constant");
        if (mode is not ("constant" or "reflect" or "edge" or "wrap"))
        {
            throw ctx.Unsupported($"mode='{mode}'");
        }

        long[]? padsAttr = ctx.Ints("pads") ?? ctx.Ints("paddings");
        float valueAttr = ctx.Float("value", 0f);
        return i =>
        {
            Tensor x = i[0]!;
            int rank = (int)x.dim();
            long[] pads = ctx.Opset < 11 ? padsAttr! : Kernels.Longs(i[1]!);
            double value = ctx.Opset < 11 ? valueAttr : i.Length > 2 && i[2] is not null ? Kernels.Scalar(i[2]!) : 0;
            long[] axes = i.Length > 3 && i[3] is not null
                ? [.. Kernels.Longs(i[3]!).Select(a => Kernels.Axis(a, rank))]
                : [.. Enumerable.Range(0, rank).Select(d => (long)d)];
            long[] begin = new long[rank];
            long[] end = new long[rank];
            for (int k = 0; k < axes.Length; k++)
            {
                begin[axes[k]] = pads[k];
                end[axes[k]] = pads[k + axes.Length];
            }

            OnnxTensors.CheckShape([.. x.shape.Select((d, k) => Math.Max(0, d + begin[k] + end[k]))], ctx.Limits, $"output of {ctx.Describe}");
            if (mode == "constant")
            {
                return [F.pad(x, Padding.TorchOrder(begin, end), PaddingModes.Constant, value)];
            }

            // reflect / edge / wrap on any axis: an index map per padded axis, applied with index_select.
            Tensor y = x;
            for (int d = 0; d < rank; d++)
            {
                if (begin[d] == 0 && end[d] == 0)
                {
                    continue;
                }

                long n = x.shape[d];
                long[] map = new long[n + begin[d] + end[d]];
                for (long k = 0; k < map.Length; k++)
                {
                    long s = k - begin[d];
                    map[k] = mode switch
                    {
                        "edge" => Math.Clamp(s, 0, n - 1),
                        "wrap" => ((s % n) + n) % n,
                        _ => Reflect(s, n),
                    };
                }

                y = y.index_select(d, torch.tensor(map, ScalarType.Int64, x.device));
            }

            return [y];
        };
    }

    private static long Reflect(long s, long n)
    {
        if (n == 1)
        {
            return 0;
        }

        long period = 2 * (n - 1);
        long m = ((s % period) + period) % period;
        return m < n ? m : period - m;
    }
}
