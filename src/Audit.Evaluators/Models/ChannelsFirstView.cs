using static TorchSharp.torch;

namespace Audit.Evaluators.Models;

/// <summary>
/// A channels-last image model (<c>[N, H, W, C]</c> input) presented as channels-first (<c>[N, C, H, W]</c>): every
/// probe that stamps, masks or perturbs images, and every evidence PNG, works in one orientation whatever the
/// exporter chose. The first input is permuted on its way in (a view, so gradients reach the caller's tensor);
/// other inputs, outputs and captured values are the wrapped model's.
/// </summary>
public sealed class ChannelsFirstView : IDifferentiableModel
{
    private readonly IDifferentiableModel _inner;
    private readonly string _image;

    /// <param name="inner">The channels-last model; owned by the caller (this view never disposes it).</param>
    /// <exception cref="ArgumentException">Its first input is not of rank 4.</exception>
    public ChannelsFirstView(IDifferentiableModel inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ValueSpec image = inner.Inputs.Count > 0 && inner.Inputs[0].Shape.Count == 4
            ? inner.Inputs[0]
            : throw new ArgumentException("A channels-first view needs a model whose first input has rank 4.", nameof(inner));
        _inner = inner;
        _image = image.Name;
        ChannelsLastInput = image;
        Inputs = [ToChannelsFirst(image), .. inner.Inputs.Skip(1)];
    }

    /// <summary>The channels-last model this view wraps.</summary>
    internal IDifferentiableModel Inner => _inner;

    /// <summary>The wrapped model's first input as declared, <c>[N, H, W, C]</c>.</summary>
    public ValueSpec ChannelsLastInput { get; }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Inputs { get; }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Outputs => _inner.Outputs;

    /// <inheritdoc />
    public IReadOnlyList<string> ValueNames => _inner.ValueNames;

    /// <inheritdoc />
    public ComputeDevice Device => _inner.Device;

    /// <inheritdoc />
    public Tensor Forward(Tensor input) => _inner.Forward(ToChannelsLast(input));

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        var permuted = inputs.ToDictionary(p => p.Key, p => p.Key == _image ? ToChannelsLast(p.Value) : p.Value, StringComparer.Ordinal);
        Dictionary<string, Tensor>? replaced = replace?.ToDictionary(p => p.Key, p => p.Key == _image ? ToChannelsLast(p.Value) : p.Value, StringComparer.Ordinal);
        IReadOnlyDictionary<string, Tensor> result = _inner.Run(permuted, capture, replaced);
        if (capture is null || !capture.Contains(_image) || !result.TryGetValue(_image, out Tensor? captured))
        {
            return result;
        }

        // A captured input is reported as the caller gave it, channels-first.
        var adjusted = new Dictionary<string, Tensor>(result, StringComparer.Ordinal) { [_image] = captured.permute(0, 3, 1, 2) };
        return adjusted;
    }

    /// <summary>Nothing to release: the wrapped model belongs to whoever created this view.</summary>
    public void Dispose()
    {
    }

    private static Tensor ToChannelsLast(Tensor nchw) =>
        nchw.dim() == 4 ? nchw.permute(0, 2, 3, 1) : throw new ArgumentException($"Expected images [N, C, H, W]; got rank {nchw.dim()}.", nameof(nchw));

    private static ValueSpec ToChannelsFirst(ValueSpec nhwc)
    {
        int[] order = [0, 3, 1, 2];
        return nhwc with
        {
            Shape = [.. order.Select(i => nhwc.Shape[i])],
            DimensionNames = nhwc.DimensionNames.Count == 4 ? [.. order.Select(i => nhwc.DimensionNames[i])] : nhwc.DimensionNames,
        };
    }
}
