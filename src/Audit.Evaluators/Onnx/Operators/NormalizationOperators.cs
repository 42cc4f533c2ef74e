using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>BatchNormalization (inference form), LayerNormalization and InstanceNormalization.</summary>
internal static class NormalizationOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("BatchNormalization", 6, ctx =>
        {
            if (ctx.Int("training_mode", 0) != 0 || ctx.HasOutput(1))
            {
                throw ctx.Unsupported("training mode (running statistics outputs)");
            }

            if (ctx.Opset < 9 && ctx.Int("spatial", 1) != 1 || ctx.Opset < 7 && ctx.Int("is_test", 0) == 0 && ctx.HasOutput(1))
            {
                throw ctx.Unsupported("spatial=0");
            }

            double epsilon = ctx.Float("epsilon", 1e-5f);
            return i => [F.batch_norm(i[0]!, i[3]!, i[4]!, i[1]!, i[2]!, training: false, eps: epsilon)];
        });

        r.Add("LayerNormalization", 17, ctx =>
        {
            long axisAttr = ctx.Int("axis", -1);
            double epsilon = ctx.Float("epsilon", 1e-5f);
            bool statistics = ctx.HasOutput(1) || ctx.HasOutput(2);
            return i =>
            {
                Tensor x = i[0]!;
                Tensor scale = i[1]!;
                Tensor? bias = i.Length > 2 ? i[2] : null;
                long axis = Kernels.Axis(axisAttr, x.dim());
                long[] normalized = x.shape[(int)axis..];
                if (!statistics && Kernels.IsFloating(x.dtype))
                {
                    return [F.layer_norm(x, normalized, scale.expand(normalized), bias?.expand(normalized), epsilon)];
                }

                // The statistics outputs are computed in float32 (stash_type 1) and keep reduced dims.
                long[] dims = [.. Enumerable.Range((int)axis, normalized.Length).Select(d => (long)d)];
                Tensor xf = x.to_type(ScalarType.Float32);
                Tensor mean = xf.mean(dims, keepdim: true);
                Tensor centered = xf.sub(mean);
                Tensor invStd = centered.Square().mean(dims, keepdim: true).Add(epsilon).rsqrt();
                Tensor y = centered.mul(invStd).to_type(x.dtype).mul(scale);
                if (bias is not null)
                {
                    y = y.Add(bias);
                }

                return [y, mean, invStd];
            };
        });

        r.Add("RMSNormalization", 23, ctx =>
        {
            long axisAttr = ctx.Int("axis", -1);
            double epsilon = ctx.Float("epsilon", 1e-5f);
            return i =>
            {
                Tensor x = i[0]!;
                long axis = Kernels.Axis(axisAttr, x.dim());
                long[] dims = [.. Enumerable.Range((int)axis, (int)(x.dim() - axis)).Select(d => (long)d)];
                // Computed in float32 (stash_type 1), as the specification's reference does.
                Tensor xf = x.to_type(ScalarType.Float32);
                Tensor normalized = xf.mul(xf.Square().mean(dims, keepdim: true).Add(epsilon).rsqrt());
                return [normalized.to_type(x.dtype).mul(i[1]!)];
            };
        });
        r.Add("LpNormalization", 1, ctx =>
        {
            long axis = ctx.Int("axis", -1);
            long p = ctx.Int("p", 2);
            if (p is not (1 or 2))
            {
                throw ctx.Unsupported($"p={p}");
            }

            return i =>
            {
                Tensor x = i[0]!;
                int dim = (int)Kernels.Axis(axis, x.dim());
                Tensor norm = x.norm(dim, keepdim: true, p: p);
                // A zero vector stays zero (ONNX's reference), without a 0/0 in forward or backward.
                return [x.div(norm.Add(norm.Eq(0).to_type(norm.dtype)))];
            };
        });
        r.Add("InstanceNormalization", 6, ctx =>
        {
            double epsilon = ctx.Float("epsilon", 1e-5f);
            return i => [F.instance_norm(i[0]!, weight: i[1]!, bias: i[2]!, eps: epsilon)];
        });
    }
}
