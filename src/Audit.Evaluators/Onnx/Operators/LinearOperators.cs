using Audit.Evaluators.Runtime;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>MatMul (NumPy semantics, batched and broadcasting) and Gemm.</summary>
internal static class LinearOperators
{
    public static void Register(OperatorRegistry r)
    {
        r.Add("MatMul", 1, _ => i => [matmul(i[0]!, i[1]!)]);
        r.Add("Einsum", 12, ctx =>
        {
            string equation = ctx.String("equation", "").Replace(" ", "", StringComparison.Ordinal);
            return i => [einsum(equation, [.. i.Select(t => t!)])];
        });
        r.Add("Gemm", 1, ctx =>
        {
            double alpha = ctx.Float("alpha", 1f);
            double beta = ctx.Float("beta", 1f);
            bool transA = ctx.Int("transA", 0) == 1;
            bool transB = ctx.Int("transB", 0) == 1;
            if (!transA && transB && alpha == 1 && beta == 1)
            {
                // The exported Linear layer: one fused libtorch call, exactly what nn.Linear runs.
                return i => [nn.functional.linear(i[0]!, i[1]!, i.Length > 2 ? i[2] : null)];
            }

            return i =>
            {
                Tensor a = transA ? i[0]!.t() : i[0]!;
                Tensor b = transB ? i[1]!.t() : i[1]!;
                Tensor? c = i.Length > 2 ? i[2] : null;
                Tensor y = matmul(a, b);
                if (alpha != 1)
                {
                    y = y.Mul(alpha);
                }

                return [c is null || beta == 0 ? y : y.Add(c.Mul(beta))];
            };
        });
    }
}
