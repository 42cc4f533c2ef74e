using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>Elementwise arithmetic, comparison and logic with ONNX (NumPy) broadcasting.</summary>
internal static class ElementwiseOperators
{
    public static void Register(OperatorRegistry r)
    {
        Binary(r, "Add", 1, (a, b) => a.Add(b));
        Binary(r, "Sub", 1, (a, b) => a.sub(b));
        Binary(r, "Mul", 1, (a, b) => a.mul(b));
        Binary(r, "Div", 1, Divide);
        Binary(r, "Pow", 1, (a, b) => Kernels.IsFloating(a.dtype) && a.dtype == b.dtype ? a.pow(b) : a.pow(b).to_type(a.dtype));
        Binary(r, "Equal", 7, (a, b) => a.eq(b));
        Binary(r, "Less", 7, (a, b) => a.lt(b));
        Binary(r, "Greater", 7, (a, b) => a.gt(b));
        Binary(r, "LessOrEqual", 12, (a, b) => a.le(b));
        Binary(r, "GreaterOrEqual", 12, (a, b) => a.ge(b));
        Binary(r, "And", 7, (a, b) => a.logical_and(b));
        Binary(r, "Or", 7, (a, b) => a.logical_or(b));
        Binary(r, "Xor", 7, (a, b) => a.logical_xor(b));
        r.Add("Mod", 10, ctx =>
        {
            bool fmod = ctx.Int("fmod", 0) == 1;
            return i => [fmod ? i[0]!.fmod(i[1]!) : i[0]!.remainder(i[1]!)];
        });

        Unary(r, "Neg", 6, x => x.neg());
        Unary(r, "Abs", 6, x => x.abs());
        Unary(r, "Sqrt", 6, x => x.sqrt());
        Unary(r, "Exp", 6, x => x.exp());
        Unary(r, "Log", 6, x => x.log());
        Unary(r, "Erf", 9, x => x.erf());
        Unary(r, "Reciprocal", 6, x => x.reciprocal());
        Unary(r, "Floor", 6, x => x.floor());
        Unary(r, "Ceil", 6, x => x.ceil());
        Unary(r, "Round", 11, x => x.round()); // half to even, as ONNX asks
        Unary(r, "Sign", 9, x => x.sign());
        Unary(r, "Sin", 7, x => x.sin());
        Unary(r, "Cos", 7, x => x.cos());
        Unary(r, "Not", 1, x => x.logical_not());
        Unary(r, "IsNaN", 9, x => x.isnan());
        r.Add("IsInf", 10, ctx =>
        {
            bool positive = ctx.Int("detect_positive", 1) == 1;
            bool negative = ctx.Int("detect_negative", 1) == 1;
            return i =>
            {
                Tensor x = i[0]!;
                Tensor inf = x.isinf();
                using Scalar zero = 0.ToScalar();
                return [positive && negative ? inf : positive ? inf.logical_and(x.gt(zero)) : negative ? inf.logical_and(x.lt(zero)) : torch.zeros_like(x, ScalarType.Bool)];
            };
        });

        Variadic(r, "Max", 6, (a, b) => a.max(b));
        Variadic(r, "Min", 6, (a, b) => a.min(b));
        Variadic(r, "Sum", 6, (a, b) => a.Add(b));
        r.Add("Mean", 6, _ => i =>
        {
            Tensor acc = i[0]!;
            for (int k = 1; k < i.Length; k++)
            {
                acc = acc.Add(i[k]!);
            }

            return [acc.Div(i.Length)];
        });

        r.Add("Where", 9, _ => i => [torch.where(i[0]!.to_type(ScalarType.Bool), i[1]!, i[2]!)]);
    }

    /// <summary>Integer division truncates toward zero (C semantics, as ONNX Runtime does); floats divide exactly.</summary>
    private static Tensor Divide(Tensor a, Tensor b) =>
        Kernels.IsFloating(a.dtype) ? a.div(b) : a.div(b, RoundingMode.trunc).to_type(a.dtype);

    /// <summary>
    /// Before opset 7, broadcasting was opt-in (<c>broadcast=1</c>) and <c>axis</c> aligned the second operand at
    /// that dimension of the first instead of at the end; it is reshaped here so NumPy broadcasting applies.
    /// </summary>
    private static void Binary(OperatorRegistry r, string op, int since, Func<Tensor, Tensor, Tensor> f) =>
        r.Add(op, since, ctx =>
        {
            long? legacyAxis = ctx.Opset < 7 && ctx.Int("broadcast", 0) == 1 && ctx.Has("axis") ? ctx.Int("axis", 0) : null;
            if (legacyAxis is null)
            {
                return i => [f(i[0]!, i[1]!)];
            }

            return i =>
            {
                Tensor a = i[0]!;
                Tensor b = i[1]!;
                long axis = Kernels.Axis(legacyAxis.Value, a.dim());
                long trailing = a.dim() - axis - b.dim();
                return [f(a, trailing > 0 ? b.reshape([.. b.shape, .. Enumerable.Repeat(1L, (int)trailing)]) : b)];
            };
        });

    private static void Unary(OperatorRegistry r, string op, int since, Func<Tensor, Tensor> f) =>
        r.Add(op, since, _ => i => [f(i[0]!)]);

    private static void Variadic(OperatorRegistry r, string op, int since, Func<Tensor, Tensor, Tensor> f) =>
        r.Add(op, since, _ => i =>
        {
            Tensor acc = i[0]!;
            for (int k = 1; k < i.Length; k++)
            {
                acc = f(acc, i[k]!);
            }

            return [i.Length == 1 ? acc.alias() : acc];
        });
}
