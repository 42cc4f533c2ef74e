using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Tensor operations with a number (and tensor addition) that keep TorchSharp's native scalar alive until libtorch has
/// finished with it. Every caller of libtorch in this repository uses these instead of TorchSharp's operators with
/// numbers, its implicit number-to-<see cref="Scalar"/> conversions and <c>Tensor.add</c>: <c>eng/BannedSymbols.txt</c>
/// bans those, so the compiler finds any new use.
/// </summary>
/// <remarks>
/// Why: TorchSharp 0.107 wraps a number in a finalizable <see cref="Scalar"/> that owns a native <c>c10::Scalar</c>, passes
/// the native pointer to libtorch and drops the last managed reference before the native call returns. That happens for
/// <c>x * 0.5</c>, for <c>x.clamp(0, 1)</c>, and for <c>a + b</c> of two tensors (TorchSharp's <c>add</c> passes an
/// <c>alpha</c> of 1 made the same way). When a garbage collection runs during the call (any other thread can start one),
/// the finalizer frees the native scalar while libtorch still reads it; glibc's <c>free</c> writes over the scalar's type
/// tag, and libtorch stops with "Expected false to be true" from <c>c10::Scalar::toFloat</c> (Scalar.h:140). The CI run of
/// 2026-12-01 failed that way inside <c>Tensor.op_Addition</c>; earlier runs failed the same way in other tests, about one
/// test in a thousand. Holding each scalar in a <c>using</c> keeps it reachable until the call has returned, and frees it
/// at once instead of at some later collection. The operands are kept alive too: a temporary tensor outside a dispose
/// scope has the same hazard. (The open upstream fix, dotnet/TorchSharp pull request 1434, disposes such scalars in
/// TorchSharp itself.)
/// Each method is the same libtorch call TorchSharp's own operator makes, in the same order, so results are bit for bit
/// those of the operators they replace.
/// </remarks>
public static class HeldScalars
{
    /// <summary><c>a + b</c>.</summary>
    public static Tensor Add(this Tensor left, Tensor right)
    {
        using Scalar one = 1.ToScalar();
        Tensor sum = left.add(right, one);
        GC.KeepAlive(left);
        GC.KeepAlive(right);
        return sum;
    }

    /// <summary><c>a + alpha · b</c>.</summary>
    public static Tensor Add(this Tensor left, Tensor right, double alpha)
    {
        using Scalar scale = alpha.ToScalar();
        Tensor sum = left.add(right, scale);
        GC.KeepAlive(left);
        GC.KeepAlive(right);
        return sum;
    }

    /// <summary><c>x + value</c> (a floating-point scalar).</summary>
    public static Tensor Add(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), AddScalar);

    /// <summary><c>x + value</c> (an integral scalar: integer tensors stay integer).</summary>
    public static Tensor Add(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), AddScalar);

    /// <summary><c>a += b</c>, in place.</summary>
    public static Tensor AddInPlace(this Tensor left, Tensor right)
    {
        using Scalar one = 1.ToScalar();
        Tensor sum = left.add_(right, one);
        GC.KeepAlive(right);
        return sum;
    }

    /// <summary><c>x += value</c>, in place.</summary>
    public static Tensor AddInPlace(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) =>
    {
        using Scalar one = 1.ToScalar();
        return t.add_(s, one);
    });

    /// <summary><c>x - value</c>.</summary>
    public static Tensor Sub(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.sub(s));

    /// <summary><c>x - value</c> (integral).</summary>
    public static Tensor Sub(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.sub(s));

    /// <summary><c>value - x</c>, computed as TorchSharp does: <c>(-x) + value</c>.</summary>
    public static Tensor SubtractedFrom(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), SubtractedFromScalar);

    /// <summary><c>value - x</c> (integral), computed as TorchSharp does: <c>(-x) + value</c>.</summary>
    public static Tensor SubtractedFrom(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), SubtractedFromScalar);

    /// <summary><c>x · value</c>.</summary>
    public static Tensor Mul(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.mul(s));

    /// <summary><c>x · value</c> (integral).</summary>
    public static Tensor Mul(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.mul(s));

    /// <summary><c>x ·= value</c>, in place.</summary>
    public static Tensor MulInPlace(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.mul_(s));

    /// <summary><c>x / value</c>.</summary>
    public static Tensor Div(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.div(s));

    /// <summary><c>x / value</c> (an integral divisor; true division, as TorchSharp's operator).</summary>
    public static Tensor Div(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.div(s));

    /// <summary><c>value / x</c>, computed as TorchSharp does: <c>(1 / x) · value</c>.</summary>
    public static Tensor DividedInto(this Tensor tensor, double value)
    {
        using Tensor reciprocal = tensor.reciprocal();
        return reciprocal.Mul(value);
    }

    /// <summary><c>x ^ exponent</c>.</summary>
    public static Tensor Pow(this Tensor tensor, double exponent) => WithScalar(tensor, exponent.ToScalar(), static (t, s) => t.pow(s));

    /// <summary><c>x ^ exponent</c> (an integral exponent).</summary>
    public static Tensor Pow(this Tensor tensor, long exponent) => WithScalar(tensor, exponent.ToScalar(), static (t, s) => t.pow(s));

    /// <summary><c>x²</c>, as TorchSharp's <c>square()</c> computes it (<c>pow(2)</c>, with a temporary exponent).</summary>
    public static Tensor Square(this Tensor tensor) => tensor.Pow(2L);

    /// <summary>Leaky ReLU: x where x ≥ 0, <paramref name="slope"/> · x elsewhere.</summary>
    public static Tensor LeakyRelu(this Tensor tensor, double slope) => WithScalar(tensor, slope.ToScalar(), static (t, s) => t.leaky_relu(s));

    /// <summary>
    /// softplus(x) = ln(1 + eˣ), and x itself above 20 as libtorch's default threshold does. TorchSharp's softplus makes
    /// its β and threshold scalars privately, so this computes the same formula from held operations; the exponential
    /// is taken of min(x, 20) so that neither branch's gradient is infinite.
    /// </summary>
    public static Tensor Softplus(this Tensor tensor)
    {
        const double threshold = 20;
        using Tensor above = tensor.Gt(threshold);
        using Tensor limited = tensor.ClampMax(threshold);
        using Tensor exponential = limited.exp();
        using Tensor smooth = exponential.log1p();
        return torch.where(above, tensor, smooth);
    }

    /// <summary>
    /// A 2-d batch normalisation without TorchSharp's <c>num_batches_tracked</c> counter: its training-mode forward adds
    /// 1 to that counter with two temporary scalars. The counter only matters when momentum is unset (a cumulative
    /// average); with a momentum — TorchSharp's default 0.1, the only one used here — the running statistics do not
    /// depend on it, and no exporter here reads it.
    /// </summary>
    public static TorchSharp.Modules.BatchNorm2d BatchNorm2d(long features)
    {
#pragma warning disable RS0030 // The one place that makes TorchSharp's module, to take the counter off it.
        TorchSharp.Modules.BatchNorm2d norm = nn.BatchNorm2d(features);
#pragma warning restore RS0030
        norm.num_batches_tracked = null;
        return norm;
    }

    /// <summary><c>x % value</c> (integral).</summary>
    public static Tensor Remainder(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.remainder(s));

    /// <summary>x limited to [min, max].</summary>
    public static Tensor Clamp(this Tensor tensor, double min, double max) => ClampScalars(tensor, min.ToScalar(), max.ToScalar());

    /// <summary>x limited to [min, max] (integral bounds).</summary>
    public static Tensor Clamp(this Tensor tensor, long min, long max) => ClampScalars(tensor, min.ToScalar(), max.ToScalar());

    /// <summary>max(x, min).</summary>
    public static Tensor ClampMin(this Tensor tensor, double min) => WithScalar(tensor, min.ToScalar(), static (t, s) => t.clamp_min(s));

    /// <summary>max(x, min) (an integral bound).</summary>
    public static Tensor ClampMin(this Tensor tensor, long min) => WithScalar(tensor, min.ToScalar(), static (t, s) => t.clamp_min(s));

    /// <summary>min(x, max).</summary>
    public static Tensor ClampMax(this Tensor tensor, double max) => WithScalar(tensor, max.ToScalar(), static (t, s) => t.clamp_max(s));

    /// <summary>min(x, max) (an integral bound).</summary>
    public static Tensor ClampMax(this Tensor tensor, long max) => WithScalar(tensor, max.ToScalar(), static (t, s) => t.clamp_max(s));

    /// <summary>x == value, element-wise.</summary>
    public static Tensor Eq(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.eq(s));

    /// <summary>x == value (integral), element-wise.</summary>
    public static Tensor Eq(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.eq(s));

    /// <summary>x != value, element-wise.</summary>
    public static Tensor Ne(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.ne(s));

    /// <summary>x != value (integral), element-wise.</summary>
    public static Tensor Ne(this Tensor tensor, long value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.ne(s));

    /// <summary>x &gt; value, element-wise.</summary>
    public static Tensor Gt(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.gt(s));

    /// <summary>x &gt;= value, element-wise.</summary>
    public static Tensor Ge(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.ge(s));

    /// <summary>x &lt; value, element-wise.</summary>
    public static Tensor Lt(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.lt(s));

    /// <summary>x &lt;= value, element-wise.</summary>
    public static Tensor Le(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.le(s));

    /// <summary>x with <paramref name="value"/> where <paramref name="mask"/> is true.</summary>
    public static Tensor MaskedFill(this Tensor tensor, Tensor mask, double value)
    {
        using Scalar scalar = value.ToScalar();
        Tensor result = tensor.masked_fill(mask, scalar);
        GC.KeepAlive(tensor);
        GC.KeepAlive(mask);
        return result;
    }

    /// <summary>Fills x with <paramref name="value"/>, in place.</summary>
    public static Tensor FillInPlace(this Tensor tensor, double value) => WithScalar(tensor, value.ToScalar(), static (t, s) => t.fill_(s));

    /// <summary>Sets the entries of x at <paramref name="index"/> along <paramref name="dim"/> to <paramref name="value"/>, in place.</summary>
    public static Tensor IndexFillInPlace(this Tensor tensor, long dim, Tensor index, long value)
    {
        using Scalar scalar = value.ToScalar();
        Tensor result = tensor.index_fill_(dim, index, scalar);
        GC.KeepAlive(index);
        return result;
    }

    /// <summary>Adds <paramref name="source"/> into x at <paramref name="index"/> along <paramref name="dim"/>, in place.</summary>
    public static Tensor IndexAddInPlace(this Tensor tensor, long dim, Tensor index, Tensor source)
    {
        using Scalar one = 1.ToScalar();
        Tensor result = tensor.index_add_(dim, index, source, one);
        GC.KeepAlive(index);
        GC.KeepAlive(source);
        return result;
    }

    /// <summary>A tensor of <paramref name="shape"/> filled with <paramref name="value"/>.</summary>
    public static Tensor Full(long[] shape, double value, ScalarType? dtype = null, Device? device = null) => FullOf(shape, value.ToScalar(), dtype, device);

    /// <summary>A tensor of <paramref name="shape"/> filled with the integer <paramref name="value"/>.</summary>
    public static Tensor Full(long[] shape, long value, ScalarType? dtype = null, Device? device = null) => FullOf(shape, value.ToScalar(), dtype, device);

    /// <summary>A tensor shaped like <paramref name="like"/> filled with <paramref name="value"/>.</summary>
    public static Tensor FullLike(Tensor like, double value) => WithScalar(like, value.ToScalar(), static (t, s) => torch.full_like(t, s));

    /// <summary>A tensor shaped like <paramref name="like"/> filled with the integer <paramref name="value"/>.</summary>
    public static Tensor FullLike(Tensor like, long value) => WithScalar(like, value.ToScalar(), static (t, s) => torch.full_like(t, s));

    /// <summary>0, 1, …, <paramref name="stop"/> − 1 (as <c>torch.arange(stop)</c>, which makes its start and step the same hazardous way).</summary>
    public static Tensor Arange(long stop, ScalarType? dtype = null, Device? device = null) => Arange(0, stop, 1, dtype, device);

    /// <summary><paramref name="start"/>, start + step, … below <paramref name="stop"/>.</summary>
    public static Tensor Arange(long start, long stop, long step, ScalarType? dtype = null, Device? device = null)
    {
        using Scalar first = start.ToScalar();
        using Scalar end = stop.ToScalar();
        using Scalar stride = step.ToScalar();
        return torch.arange(first, end, stride, dtype, device);
    }

    private static Tensor AddScalar(Tensor tensor, Scalar value)
    {
        using Scalar one = 1.ToScalar();
        return tensor.add(value, one);
    }

    private static Tensor SubtractedFromScalar(Tensor tensor, Scalar value)
    {
        using Tensor negated = tensor.negative();
        return AddScalar(negated, value);
    }

    private static Tensor ClampScalars(Tensor tensor, Scalar min, Scalar max)
    {
        using (min)
        using (max)
        {
            Tensor result = tensor.clamp(min, max);
            GC.KeepAlive(tensor);
            return result;
        }
    }

    private static Tensor FullOf(long[] shape, Scalar value, ScalarType? dtype, Device? device)
    {
        using (value)
        {
            return torch.full(shape, value, dtype, device);
        }
    }

    private static Tensor WithScalar(Tensor tensor, Scalar scalar, Func<Tensor, Scalar, Tensor> operation)
    {
        using (scalar)
        {
            Tensor result = operation(tensor, scalar);
            GC.KeepAlive(tensor);
            return result;
        }
    }
}
