using Audit.Evaluators.Runtime;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// The trigger searches' parametrisation (Neural Cleanse's, Wang et al. 2019): a mask and a pattern optimised as
/// unconstrained tensors and read through tanh, so the mask stays in [0, 1] and the pattern inside the input bounds.
/// One place for the arithmetic, so the all-to-one and the pair search read their parameters identically.
/// </summary>
internal static class TanhTrigger
{
    /// <summary>The mask in [0, 1]: (tanh(θ) + 1) / 2.</summary>
    public static Tensor Mask(Tensor raw) => raw.tanh().Add(1).Div(2);

    /// <summary>The pattern inside [low, low + span]: low + span · (tanh(φ) + 1) / 2.</summary>
    public static Tensor Pattern(Tensor raw, float low, float span) => raw.tanh().Add(1).Mul(span).Div(2).Add(low);
}
