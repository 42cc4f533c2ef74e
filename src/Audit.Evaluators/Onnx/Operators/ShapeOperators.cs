using Audit.Evaluators.Runtime;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Shape manipulation, constants, casts and the shape arithmetic exporters emit.</summary>
internal static class ShapeOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("Identity", 1, _ => i => [i[0]!.alias()]);
        r.Add("Dropout", 1, BuildDropout);
        r.Add("Shape", 1, ctx =>
        {
            long? start = ctx.Has("start") ? ctx.Int("start", 0) : null;
            long? end = ctx.Has("end") ? ctx.Int("end", 0) : null;
            return i =>
            {
                long[] shape = i[0]!.shape;
                int rank = shape.Length;
                int s = (int)Math.Clamp(Kernels.Axis(start ?? 0, rank), 0, rank);
                int e = (int)Math.Clamp(Kernels.Axis(end ?? rank, rank), 0, rank);
                return [torch.tensor(e > s ? shape[s..e] : [], ScalarType.Int64, ctx.Device)];
            };
        });
        r.Add("Size", 1, ctx => i => [torch.tensor(i[0]!.numel(), ScalarType.Int64, ctx.Device)]);
        r.Add("Reshape", 5, BuildReshape);
        r.Add("Flatten", 1, ctx =>
        {
            long axisAttr = ctx.Int("axis", 1);
            return i =>
            {
                long[] shape = i[0]!.shape;
                long axis = Kernels.Axis(axisAttr, shape.Length);
                long outer = shape[..(int)axis].Aggregate(1L, (p, d) => p * d);
                long inner = shape[(int)axis..].Aggregate(1L, (p, d) => p * d);
                return [i[0]!.reshape(outer, inner)];
            };
        });
        r.Add("Transpose", 1, ctx =>
        {
            long[]? perm = ctx.Ints("perm");
            return i => [i[0]!.permute(perm ?? [.. Enumerable.Range(0, (int)i[0]!.dim()).Reverse().Select(d => (long)d)])];
        });
        r.Add("Squeeze", 1, ctx =>
        {
            long[]? attrAxes = ctx.Opset < 13 ? ctx.Ints("axes") : null;
            return i =>
            {
                Tensor x = i[0]!;
                long[]? axes = ctx.Opset < 13 ? attrAxes : i.Length > 1 && i[1] is not null ? Kernels.Longs(i[1]!) : null;
                if (axes is null)
                {
                    return [x.reshape([.. x.shape.Where(d => d != 1)])];
                }

                HashSet<long> drop = [.. axes.Select(a => Kernels.Axis(a, x.dim()))];
                return [x.reshape([.. x.shape.Where((_, d) => !drop.Contains(d))])];
            };
        });
        r.Add("Unsqueeze", 1, ctx =>
        {
            long[]? attrAxes = ctx.Opset < 13 ? ctx.Ints("axes") : null;
            return i =>
            {
                Tensor x = i[0]!;
                long[] axes = ctx.Opset < 13 ? attrAxes! : Kernels.Longs(i[1]!);
                long rank = x.dim() + axes.Length;
                HashSet<long> inserted = [.. axes.Select(a => Kernels.Axis(a, rank))];
                List<long> shape = [];
                int source = 0;
                for (long d = 0; d < rank; d++)
                {
                    shape.Add(inserted.Contains(d) ? 1 : x.shape[source++]);
                }

                return [x.reshape([.. shape])];
            };
        });
        r.Add("Expand", 8, ctx => i =>
        {
            long[] shape = Kernels.Broadcast(i[0]!.shape, Kernels.Longs(i[1]!));
            OnnxTensors.CheckShape(shape, ctx.Limits, $"output of {ctx.Describe}");
            return [i[0]!.expand(shape)];
        });
        r.Add("Tile", 6, ctx => i =>
        {
            long[] repeats = Kernels.Longs(i[1]!);
            // Shapes computed from data are bounded like stored ones: a model cannot ask for absurd allocations.
            OnnxTensors.CheckShape([.. i[0]!.shape.Select((d, k) => d * repeats[k])], ctx.Limits, $"output of {ctx.Describe}");
            return [i[0]!.repeat(repeats)];
        });
        r.Add("Cast", 6, ctx =>
        {
            ScalarType to = OnnxTensors.ToScalarType((int)ctx.Int("to", 0))
                ?? throw ctx.Unsupported($"to={OnnxTensors.TypeName((int)ctx.Int("to", 0))}");
            return i => [i[0]!.to_type(to)];
        });
        r.Add("CastLike", 15, _ => i => [i[0]!.to_type(i[1]!.dtype)]);
        r.Add("Constant", 1, BuildConstant);
        r.Add("ConstantOfShape", 9, ctx =>
        {
            AttributeProto? value = ctx.Attribute("value");
            Tensor fill = value is null ? torch.zeros(1, ScalarType.Float32, ctx.Device) : ctx.AttributeTensor(value.T);
            fill = ctx.Keep(fill);
            return i =>
            {
                long[] shape = Kernels.Longs(i[0]!);
                OnnxTensors.CheckShape(shape, ctx.Limits, $"output of {ctx.Describe}");
                return [fill.reshape([]).expand(shape).clone()];
            };
        });
        r.Add("Range", 11, ctx => i =>
        {
            double start = Kernels.Scalar(i[0]!);
            double limit = Kernels.Scalar(i[1]!);
            double delta = Kernels.Scalar(i[2]!);
            long count = Math.Max((long)Math.Ceiling((limit - start) / delta), 0);
            OnnxTensors.CheckShape([count], ctx.Limits, $"output of {ctx.Describe}");
            ScalarType type = i[0]!.dtype;
            // start + k * delta in the operand type, as ONNX defines it (no accumulated rounding).
            Tensor k = HeldScalars.Arange(count, Kernels.IsFloating(type) ? type : ScalarType.Int64, ctx.Device);
            return [k.mul(i[2]!).Add(i[0]!).to_type(type)];
        });
        r.Add("Trilu", 14, ctx =>
        {
            bool upper = ctx.Int("upper", 1) == 1;
            return i =>
            {
                long k = i.Length > 1 && i[1] is not null ? Kernels.Longs(i[1]!)[0] : 0;
                return [upper ? i[0]!.triu(k) : i[0]!.tril(k)];
            };
        });
    }

    private static OnnxKernel BuildDropout(NodeContext ctx)
    {
        if (ctx.Opset < 7 && ctx.Int("is_test", 0) == 0)
        {
            throw ctx.Unsupported("training mode (is_test=0)");
        }

        bool mask = ctx.HasOutput(1);
        return i =>
        {
            Tensor x = i[0]!;
            // Opset 12+: training_mode is an input; random masks cannot be audited reproducibly, so refuse.
            if (i.Length > 2 && i[2] is not null && Kernels.Longs(i[2]!)[0] != 0)
            {
                double ratio = i[1] is null ? 0.5 : Kernels.Scalar(i[1]!);
                if (ratio != 0)
                {
                    throw ctx.Unsupported("training_mode=true");
                }
            }

            return mask ? [x.alias(), torch.ones_like(x, ScalarType.Bool)] : [x.alias()];
        };
    }

    /// <summary>
    /// Reshape with ONNX's 0 (copy the input dimension, unless allowzero) and -1 (infer). When batch analysis
    /// proved dimension 0 of the data is the batch of a model exported at batch 1, a baked-in leading 1 in the
    /// target shape means "the batch" and becomes the actual batch size.
    /// </summary>
    private static OnnxKernel BuildReshape(NodeContext ctx)
    {
        bool allowZero = ctx.Int("allowzero", 0) == 1;
        bool batchRule = ctx.FirstInputCarriesBatch;
        return i =>
        {
            Tensor x = i[0]!;
            long[] shape = Kernels.Longs(i[1]!);
            long[] source = x.shape;
            for (int d = 0; d < shape.Length; d++)
            {
                if (shape[d] == 0 && !allowZero)
                {
                    shape[d] = d < source.Length ? source[d] : throw new InvalidOperationException($"{ctx.Describe}: shape has 0 at {d} beyond the input rank.");
                }
            }

            if (batchRule && shape.Length > 0 && shape[0] == 1 && source.Length > 0 && source[0] != 1)
            {
                shape[0] = source[0];
            }

            return [x.reshape(shape)];
        };
    }

    private static OnnxKernel BuildConstant(NodeContext ctx)
    {
        Tensor value;
        if (ctx.Attribute("value") is { } t)
        {
            value = ctx.AttributeTensor(t.T);
        }
        else if (ctx.Attribute("value_float") is { } f)
        {
            value = torch.tensor(f.F, ScalarType.Float32, ctx.Device);
        }
        else if (ctx.Attribute("value_floats") is { } fs)
        {
            value = torch.tensor(fs.Floats.ToArray(), ScalarType.Float32, ctx.Device);
        }
        else if (ctx.Attribute("value_int") is { } n)
        {
            value = torch.tensor(n.I, ScalarType.Int64, ctx.Device);
        }
        else if (ctx.Attribute("value_ints") is { } ns)
        {
            value = torch.tensor(ns.Ints.ToArray(), ScalarType.Int64, ctx.Device);
        }
        else
        {
            throw ctx.Unsupported("string or sparse value");
        }

        // Owned by the graph for its lifetime, like an initializer.
        ctx.Keep(value);
        return _ => [value.alias()];
    }
}
