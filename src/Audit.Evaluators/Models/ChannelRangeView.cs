using Audit.Evaluators.Runtime;
using static TorchSharp.torch;

namespace Audit.Evaluators.Models;

/// <summary>
/// An image model (<c>[N, C, H, W]</c> input) presented so that every channel of its evidence spans one common range:
/// the probes' input <c>x</c> reaches the wrapped model as <c>x · scale[c] + offset[c]</c>, per channel. Every probe
/// keeps its triggers, noise and perturbation budgets inside one range <c>[low, high]</c>; when the owner standardised
/// each channel by its own mean and deviation (torchvision's ImageNet or CIFAR constants), the channels' real ranges
/// differ, and one range would let a trigger reach values no real image has in some channel. Through this view each
/// channel's real range is the common one, so the probes' bounds hold per channel (docs/probes.md, "Channels
/// standardised each their own way"). The first input is mapped on its way in (differentiably); other inputs, outputs
/// and captured values are the wrapped model's, except a captured first input, which is reported as the caller gave it.
/// </summary>
public sealed class ChannelRangeView : IDifferentiableModel
{
    private readonly IDifferentiableModel _inner;
    private readonly string _image;
    private readonly float[] _scale;
    private readonly float[] _offset;

    /// <param name="inner">The model; owned by the caller (this view never disposes it).</param>
    /// <param name="scale">Per channel, the wrapped model's input per unit of the probes' input (positive).</param>
    /// <param name="offset">Per channel, the wrapped model's input where the probes' input is 0.</param>
    /// <exception cref="ArgumentException">The first input is not of rank 4, or the maps do not fit its channels.</exception>
    public ChannelRangeView(IDifferentiableModel inner, IReadOnlyList<float> scale, IReadOnlyList<float> offset)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(offset);
        ValueSpec image = inner.Inputs.Count > 0 && inner.Inputs[0].Shape.Count == 4
            ? inner.Inputs[0]
            : throw new ArgumentException("A channel-range view needs a model whose first input has rank 4.", nameof(inner));
        long declared = image.Shape[1];
        if (scale.Count != offset.Count || scale.Count == 0 || (declared > 0 && declared != scale.Count))
        {
            throw new ArgumentException($"The maps have {scale.Count} and {offset.Count} entries; the model's input has {declared} channels.", nameof(scale));
        }

        if (scale.Any(s => !(s > 0) || !float.IsFinite(s)) || offset.Any(o => !float.IsFinite(o)))
        {
            throw new ArgumentException("Every channel's scale must be positive and finite, and its offset finite.", nameof(scale));
        }

        _inner = inner;
        _image = image.Name;
        _scale = [.. scale];
        _offset = [.. offset];
    }

    /// <summary>The wrapped model.</summary>
    internal IDifferentiableModel Inner => _inner;

    /// <summary>Per channel, the wrapped model's input per unit of the probes' input.</summary>
    public IReadOnlyList<float> Scale => _scale;

    /// <summary>Per channel, the wrapped model's input where the probes' input is 0.</summary>
    public IReadOnlyList<float> Offset => _offset;

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Inputs => _inner.Inputs;

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Outputs => _inner.Outputs;

    /// <inheritdoc />
    public IReadOnlyList<string> ValueNames => _inner.ValueNames;

    /// <inheritdoc />
    public ComputeDevice Device => _inner.Device;

    /// <summary>The same view of <paramref name="other"/> (a model of the same input, such as a shadow of the wrapped one).</summary>
    public ChannelRangeView Of(IDifferentiableModel other) => new(other, _scale, _offset);

    /// <inheritdoc />
    public Tensor Forward(Tensor input) => _inner.Forward(ToModel(input));

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var mapped = inputs.ToDictionary(p => p.Key, p => p.Key == _image ? ToModel(p.Value) : p.Value, StringComparer.Ordinal);
        Dictionary<string, Tensor>? replaced = replace?.ToDictionary(p => p.Key, p => p.Key == _image ? ToModel(p.Value) : p.Value, StringComparer.Ordinal);
        IReadOnlyDictionary<string, Tensor> result = _inner.Run(mapped, capture, replaced);
        if (capture is null || !capture.Contains(_image) || !result.TryGetValue(_image, out Tensor? captured))
        {
            return result;
        }

        var adjusted = new Dictionary<string, Tensor>(result, StringComparer.Ordinal) { [_image] = ToProbes(captured) };
        return adjusted;
    }

    /// <summary>Nothing to release: the wrapped model belongs to whoever created this view, and the maps are arrays.</summary>
    public void Dispose()
    {
    }

    /// <summary>
    /// <paramref name="model"/>'s input <c>[N, C, H, W]</c> as the probes see it, <c>(x − offset[c]) / scale[c]</c>:
    /// the evidence's inputs go through this once.
    /// </summary>
    public Tensor ToProbes(Tensor model)
    {
        ArgumentNullException.ThrowIfNull(model);
        (Tensor scale, Tensor offset) = Maps(model);
        return model.sub(offset).div(scale);
    }

    private Tensor ToModel(Tensor probes)
    {
        (Tensor scale, Tensor offset) = Maps(probes);
        return probes.mul(scale).Add(offset);
    }

    // Built per call, in the caller's dispose scope: two tensors of C values cost nothing beside a forward pass, and the
    // view then owns no native memory, like the other views.
    private (Tensor Scale, Tensor Offset) Maps(Tensor like)
    {
        if (like.dim() != 4 || like.shape[1] != _scale.Length)
        {
            throw new ArgumentException($"Expected images [N, {_scale.Length}, H, W]; got [{string.Join(", ", like.shape)}].", nameof(like));
        }

        long[] shape = [1, _scale.Length, 1, 1];
        return (tensor(_scale, shape).to(like.dtype, like.device), tensor(_offset, shape).to(like.dtype, like.device));
    }
}
