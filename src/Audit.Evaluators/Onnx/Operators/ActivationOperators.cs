using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Activations, Softmax/LogSoftmax and Clip.</summary>
internal static class ActivationOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("Relu", 1, _ => i => [i[0]!.relu()]);
        r.Add("Sigmoid", 1, _ => i => [i[0]!.sigmoid()]);
        r.Add("Tanh", 1, _ => i => [i[0]!.tanh()]);
        r.Add("Softsign", 1, _ => i => [i[0]!.div(i[0]!.abs().Add(1))]);
        r.Add("LeakyRelu", 1, ctx =>
        {
            double alpha = ctx.Float("alpha", 0.01f);
            return i => [i[0]!.LeakyRelu(alpha)];
        });
        r.Add("PRelu", 1, ctx => i =>
        {
            Tensor x = i[0]!;
            Tensor slope = i[1]!;
            // Before opset 7 a per-channel slope [C] applies along dimension 1, not the last one.
            if (ctx.Opset < 7 && slope.dim() == 1 && slope.shape[0] > 1 && x.dim() > 2)
            {
                slope = slope.reshape([slope.shape[0], .. Enumerable.Repeat(1L, (int)x.dim() - 2)]);
            }

            using Scalar zero = 0.ToScalar();
            return [torch.where(x.lt(zero), x.mul(slope), x)];
        });
        r.Add("Elu", 1, ctx =>
        {
            double alpha = ctx.Float("alpha", 1f);
            return i =>
            {
                using Scalar zero = 0.ToScalar();
                return [torch.where(i[0]!.lt(zero), i[0]!.exp().Sub(1).Mul(alpha), i[0]!)];
            };
        });
        r.Add("Selu", 1, ctx =>
        {
            double alpha = ctx.Float("alpha", 1.67326319217681884765625f);
            double gamma = ctx.Float("gamma", 1.05070102214813232421875f);
            return i =>
            {
                using Scalar zero = 0.ToScalar();
                return [torch.where(i[0]!.le(zero), i[0]!.exp().Sub(1).Mul(alpha), i[0]!).Mul(gamma)];
            };
        });
        r.Add("HardSigmoid", 1, ctx =>
        {
            double alpha = ctx.Float("alpha", 0.2f);
            double beta = ctx.Float("beta", 0.5f);
            return i => [i[0]!.Mul(alpha).Add(beta).Clamp(0, 1)];
        });
        r.Add("HardSwish", 14, _ => i => [i[0]!.mul(i[0]!.Div(6).Add(0.5).Clamp(0, 1))]);
        r.Add("Softplus", 1, _ => i => [i[0]!.Softplus()]);
        r.Add("Gelu", 20, ctx =>
        {
            string approximate = ctx.String("approximate", "none");
            GELU.Approximate mode = approximate switch
            {
                "none" => GELU.Approximate.none,
                "tanh" => GELU.Approximate.tanh,
                _ => throw ctx.Unsupported($"approximate='{approximate}'"),
            };
            return i => [F.gelu(i[0]!, mode)];
        });
        r.Add("Softmax", 1, ctx => SoftmaxKernel(ctx, log: false));
        r.Add("Hardmax", 1, ctx => SoftmaxKernel(ctx, log: false, hard: true));
        r.Add("LogSoftmax", 1, ctx => SoftmaxKernel(ctx, log: true));
        r.Add("Clip", 6, ctx =>
        {
            if (ctx.Opset < 11)
            {
                float min = ctx.Float("min", float.MinValue);
                float max = ctx.Float("max", float.MaxValue);
                return i => [i[0]!.Clamp(min, max)];
            }

            // Opset 11+: bounds are optional 0-d inputs; tensor bounds keep the clamp on the device.
            return i =>
            {
                Tensor x = i[0]!;
                Tensor? min = i.Length > 1 ? i[1] : null;
                Tensor? max = i.Length > 2 ? i[2] : null;
                if (min is null && max is null)
                {
                    return [x.alias()];
                }

                // clamp(min, max) with min > max yields max everywhere, matching ONNX.
                Tensor y = min is null ? x : x.maximum(min);
                return [max is null ? y : y.minimum(max)];
            };
        });
    }

    /// <summary>
    /// Opset 13+ normalizes along one axis (default -1). Before 13 the input is coerced to 2-D
    /// [prod(shape[..axis]), prod(shape[axis..])] (default axis 1) and normalized along the second dimension.
    /// </summary>
    private static OnnxKernel SoftmaxKernel(NodeContext ctx, bool log, bool hard = false)
    {
        Tensor Normalize(Tensor x, long axis) =>
            hard ? OneHotOfMax(x, axis) : log ? F.log_softmax(x, axis) : F.softmax(x, axis);

        if (ctx.Opset >= 13)
        {
            long axis = ctx.Int("axis", -1);
            return i => [Normalize(i[0]!, axis)];
        }

        long legacyAxis = ctx.Int("axis", 1);
        return i =>
        {
            Tensor x = i[0]!;
            long[] shape = x.shape;
            long axis = Kernels.Axis(legacyAxis, shape.Length);
            long outer = 1;
            for (int d = 0; d < axis; d++)
            {
                outer *= shape[d];
            }

            Tensor flat = x.reshape(outer, -1);
            Tensor y = Normalize(flat, 1);
            return [y.reshape(shape)];
        };
    }

    /// <summary>Hardmax: 1 at the first maximum along the axis, 0 elsewhere.</summary>
    private static Tensor OneHotOfMax(Tensor x, long axis)
    {
        Tensor index = x.argmax(axis, keepdim: true);
        return torch.zeros_like(x).scatter(axis, index, torch.ones_like(index, x.dtype));
    }
}
