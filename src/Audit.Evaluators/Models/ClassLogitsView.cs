using static TorchSharp.torch;

namespace Audit.Evaluators.Models;

/// <summary>
/// A classifier whose output is a softmax (or log-softmax) of its class scores, presented with the scores before it as
/// its first output, so that every probe reads logits whatever the exporter appended. <see cref="Forward"/> and
/// <see cref="Run"/> return the wrapped model's value <see cref="Logits"/> (captured on the way; gradients flow
/// through it as through any output); the normaliser still runs and its output stays available under its own name.
/// </summary>
public sealed class ClassLogitsView : IDifferentiableModel
{
    private readonly IDifferentiableModel _inner;

    /// <param name="inner">The model; owned by the caller (this view never disposes it).</param>
    /// <param name="logits">The value of <paramref name="inner"/> that its final softmax reads.</param>
    /// <param name="normalisedBy">The normaliser's operator (<c>Softmax</c>, <c>LogSoftmax</c>), for the findings.</param>
    /// <exception cref="ArgumentException"><paramref name="logits"/> is not a value of the model, or it has no output.</exception>
    public ClassLogitsView(IDifferentiableModel inner, string logits, string normalisedBy)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentException.ThrowIfNullOrEmpty(logits);
        if (inner.Outputs.Count == 0 || !inner.ValueNames.Contains(logits, StringComparer.Ordinal))
        {
            throw new ArgumentException($"'{logits}' is not a value of the model, or the model has no output.", nameof(logits));
        }

        _inner = inner;
        Logits = logits;
        NormalisedBy = normalisedBy;
        NormalisedOutput = inner.Outputs[0];
        Outputs = [inner.Outputs[0] with { Name = logits }, .. inner.Outputs.Skip(1)];
    }

    /// <summary>The wrapped model.</summary>
    internal IDifferentiableModel Inner => _inner;

    /// <summary>The class scores before the final normaliser: what this view returns as its first output.</summary>
    public string Logits { get; }

    /// <summary>The final normaliser's operator.</summary>
    public string NormalisedBy { get; }

    /// <summary>The wrapped model's first output as declared (the probabilities).</summary>
    public ValueSpec NormalisedOutput { get; }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Inputs => _inner.Inputs;

    /// <inheritdoc />
    /// <remarks>The first is the logits value, with the declared output's element type and shape.</remarks>
    public IReadOnlyList<ValueSpec> Outputs { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ValueNames => _inner.ValueNames;

    /// <inheritdoc />
    public ComputeDevice Device => _inner.Device;

    /// <inheritdoc />
    public Tensor Forward(Tensor input) =>
        _inner.Run(new Dictionary<string, Tensor>(StringComparer.Ordinal) { [_inner.Inputs[0].Name] = input }, [Logits])[Logits];

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        HashSet<string> captured = new(capture ?? [], StringComparer.Ordinal) { Logits };
        return _inner.Run(inputs, captured, replace);
    }

    /// <summary>Nothing to release: the wrapped model belongs to whoever created this view.</summary>
    public void Dispose()
    {
    }
}
