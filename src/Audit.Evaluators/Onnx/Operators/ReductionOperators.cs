using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>
/// ReduceMean/Sum/Max/Min/Prod/SumSquare/L1/L2/LogSum/LogSumExp, ArgMax and ArgMin. Axes are an attribute
/// until opset 13 (ReduceSum) or 18 (the others) and an optional input from then on.
/// </summary>
internal static class ReductionOperators
{
    public static void Register(OperatorRegistry r)
    {
        Reduce(r, "ReduceSum", 13, 0, (x, d, k) => x.sum(d, k));
        Reduce(r, "ReduceMean", 18, double.NaN, (x, d, k) => x.mean(d, k));
        Reduce(r, "ReduceMax", 18, double.NegativeInfinity, (x, d, k) => x.amax(d, k));
        Reduce(r, "ReduceMin", 18, double.PositiveInfinity, (x, d, k) => x.amin(d, k));
        Reduce(r, "ReduceProd", 18, 1, Product);
        Reduce(r, "ReduceSumSquare", 18, 0, (x, d, k) => x.Square().sum(d, k));
        Reduce(r, "ReduceL1", 18, 0, (x, d, k) => x.abs().sum(d, k));
        Reduce(r, "ReduceL2", 18, 0, (x, d, k) => x.Square().sum(d, k).sqrt());
        Reduce(r, "ReduceLogSum", 18, double.NegativeInfinity, (x, d, k) => x.sum(d, k).log());
        Reduce(r, "ReduceLogSumExp", 18, double.NegativeInfinity, LogSumExp);
        r.Add("CumSum", 11, ctx =>
        {
            bool exclusive = ctx.Int("exclusive", 0) == 1;
            bool reverse = ctx.Int("reverse", 0) == 1;
            return i =>
            {
                Tensor x = i[0]!;
                long axis = Kernels.Axis(Kernels.Longs(i[1]!)[0], x.dim());
                Tensor source = reverse ? x.flip(axis) : x;
                Tensor y = source.cumsum(axis, x.dtype);
                if (exclusive)
                {
                    // Shift by one along the axis: zeros first, then the inclusive sums without the last.
                    long n = x.shape[axis];
                    Tensor zeros = torch.zeros_like(y.narrow(axis, 0, Math.Min(1, n)));
                    y = n == 0 ? y : torch.cat([zeros, y.narrow(axis, 0, n - 1)], axis);
                }

                return [reverse ? y.flip(axis) : y];
            };
        });
        Arg(r, "ArgMax", max: true);
        Arg(r, "ArgMin", max: false);
    }

    private static Tensor Product(Tensor x, long[] dims, bool keep)
    {
        Tensor y = x;
        foreach (long d in dims.OrderDescending())
        {
            y = y.prod(d, keep);
        }

        return y;
    }

    private static Tensor LogSumExp(Tensor x, long[] dims, bool keep)
    {
        Tensor max = x.amax(dims, keepdim: true);
        Tensor safe = torch.where(max.isinf(), torch.zeros_like(max), max);
        Tensor y = x.sub(safe).exp().sum(dims, keepdim: true).log().Add(safe);
        return keep ? y : Kernels.DropDims(y, dims);
    }

    private static void Reduce(OperatorRegistry r, string op, int axesInputSince, double emptyValue, Func<Tensor, long[], bool, Tensor> reduce) =>
        r.Add(op, 1, ctx =>
        {
            bool keep = ctx.Int("keepdims", 1) == 1;
            bool noopWithEmptyAxes = ctx.Int("noop_with_empty_axes", 0) == 1;
            bool axesFromInput = ctx.Opset >= axesInputSince;
            long[]? axesAttr = ctx.Ints("axes");
            return i =>
            {
                Tensor x = i[0]!;
                long rank = x.dim();
                long[]? axes = axesFromInput ? (i.Length > 1 && i[1] is not null ? Kernels.Longs(i[1]!) : null) : axesAttr;
                if (axes is null || axes.Length == 0)
                {
                    if (noopWithEmptyAxes)
                    {
                        return [x.alias()];
                    }

                    axes = [.. Enumerable.Range(0, (int)rank).Select(d => (long)d)];
                }

                long[] dims = [.. axes.Select(a => Kernels.Axis(a, rank)).Distinct().Order()];
                if (dims.Any(d => x.shape[d] == 0))
                {
                    // Reducing an empty set yields the reduction's identity (ONNX 18 defines these).
                    long[] shape = [.. x.shape.Select((s, d) => dims.Contains(d) ? 1 : s)];
                    Tensor filled = HeldScalars.Full(shape, emptyValue, x.dtype, x.device);
                    return [keep ? filled : Kernels.DropDims(filled, dims)];
                }

                if (dims.Length == 0)
                {
                    return [x.alias()];
                }

                return [reduce(x, dims, keep)];
            };
        });

    private static void Arg(OperatorRegistry r, string op, bool max) =>
        r.Add(op, 1, ctx =>
        {
            long axisAttr = ctx.Int("axis", 0);
            bool keep = ctx.Int("keepdims", 1) == 1;
            bool last = ctx.Int("select_last_index", 0) == 1;
            return i =>
            {
                Tensor x = i[0]!;
                long axis = Kernels.Axis(axisAttr, x.dim());
                if (last)
                {
                    Tensor flipped = x.flip(axis);
                    Tensor index = max ? flipped.argmax(axis, keep) : flipped.argmin(axis, keep);
                    return [HeldScalars.FullLike(index, x.shape[axis] - 1).sub(index)];
                }

                return [max ? x.argmax(axis, keep) : x.argmin(axis, keep)];
            };
        });
}
