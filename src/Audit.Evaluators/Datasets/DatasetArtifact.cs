using Audit.Evaluators.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Datasets;

/// <summary>
/// The evidence dataset of an audit: float32 <c>inputs</c> of shape <c>[N, ...]</c> and optional int64
/// <c>labels</c> of shape <c>[N]</c>, held as managed arrays so no native memory outlives a probe.
/// </summary>
public sealed record DatasetArtifact
{
    /// <summary>Creates an artifact, checking that shapes and lengths agree.</summary>
    /// <exception cref="DatasetRejectedException">Shapes and data disagree.</exception>
    public DatasetArtifact(float[] inputs, long[] inputShape, long[]? labels)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (inputShape.Length < 2 || inputShape.Any(d => d <= 0))
        {
            throw new DatasetRejectedException($"'inputs' must have shape [N, ...] with positive dimensions; got [{string.Join(", ", inputShape)}].");
        }

        long count = inputShape.Aggregate(1L, (a, b) => checked(a * b));
        if (count != inputs.Length)
        {
            throw new DatasetRejectedException($"'inputs' holds {inputs.Length} values but its shape needs {count}.");
        }

        if (labels is not null && labels.Length != inputShape[0])
        {
            throw new DatasetRejectedException($"'labels' has {labels.Length} entries but 'inputs' has {inputShape[0]} samples.");
        }

        Inputs = inputs;
        InputShape = inputShape;
        Labels = labels;
    }

    /// <summary>Inputs flattened in row-major order.</summary>
    public float[] Inputs { get; }

    /// <summary>Shape of <see cref="Inputs"/>, <c>[N, ...]</c>.</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>Class labels, one per sample, when the dataset is labelled.</summary>
    public long[]? Labels { get; }

    /// <summary>Number of samples.</summary>
    public int Count => (int)InputShape[0];

    /// <summary>Shape of one sample.</summary>
    public long[] SampleShape => InputShape.Skip(1).ToArray();

    /// <summary>Smallest and largest input value: the valid range probes keep their perturbations in.</summary>
    public (float Min, float Max) Bounds()
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        foreach (float v in Inputs)
        {
            min = Math.Min(min, v);
            max = Math.Max(max, v);
        }

        return (min, max);
    }

    /// <summary>Inputs as a tensor on <paramref name="device"/>.</summary>
    public Tensor InputsTensor(torch.Device device) => torch.tensor(Inputs, InputShape.ToArray()).to(device);

    /// <summary>
    /// True when the file held channels-last images <c>[N, H, W, C]</c> that <see cref="ArrangedFor"/> transposed to the
    /// channels-first <c>[N, C, H, W]</c> every probe works in.
    /// </summary>
    public bool TransposedFromChannelsLast { get; private init; }

    /// <summary>
    /// The dataset in the layout <paramref name="model"/>'s first input takes, which for images is always
    /// <c>[N, C, H, W]</c> (a channels-last model is seen through <see cref="ChannelsFirstView"/>). Image datasets are
    /// accepted in either layout: samples that fit <c>[C, H, W]</c> are used as they are, samples that fit only
    /// <c>[H, W, C]</c> are transposed. Where both fit (symbolic or equal dimensions) the model's own layout decides.
    /// Anything else is returned unchanged, for <see cref="EnsureFits"/> to judge.
    /// </summary>
    public DatasetArtifact ArrangedFor(IDifferentiableModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        IReadOnlyList<long> expected = model.Inputs.Count > 0 ? model.Inputs[0].Shape : [];
        if (expected.Count != 4 || InputShape.Count != 4)
        {
            return this;
        }

        static bool Fits(long declared, long actual) => declared < 0 || declared == actual;
        long n = InputShape[0], a = InputShape[1], b = InputShape[2], c = InputShape[3];
        bool asChannelsFirst = Fits(expected[1], a) && Fits(expected[2], b) && Fits(expected[3], c);
        bool asChannelsLast = Fits(expected[1], c) && Fits(expected[2], a) && Fits(expected[3], b);
        bool nativeChannelsLast = model is ChannelsFirstView;
        if (!asChannelsLast || (asChannelsFirst && !nativeChannelsLast))
        {
            return this;
        }

        // [N, H, W, C] → [N, C, H, W], once per audit.
        (long height, long width, long channels) = (a, b, c);
        var moved = new float[Inputs.Length];
        long plane = height * width;
        for (long i = 0; i < n; i++)
        {
            long offset = i * plane * channels;
            for (long p = 0; p < plane; p++)
            {
                for (long ch = 0; ch < channels; ch++)
                {
                    moved[offset + (ch * plane) + p] = Inputs[offset + (p * channels) + ch];
                }
            }
        }

        return new DatasetArtifact(moved, [n, channels, height, width], Labels) { TransposedFromChannelsLast = true };
    }

    /// <summary>Labels as an int64 tensor on <paramref name="device"/>.</summary>
    /// <exception cref="DatasetRejectedException">The dataset has no labels.</exception>
    public Tensor LabelsTensor(torch.Device device) =>
        torch.tensor(Labels ?? throw new DatasetRejectedException("The dataset has no 'labels' tensor but this probe needs labels."), [Labels.Length]).to(device);

    /// <summary>Checks that the samples fit the model's first input and labels fit its class count.</summary>
    /// <exception cref="DatasetRejectedException">Rank, a fixed dimension, or a label does not fit.</exception>
    public void EnsureFits(IDifferentiableModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        ValueSpec input = model.Inputs[0];
        if (input.ElementType != ScalarType.Float32)
        {
            throw new DatasetRejectedException($"The model's input '{input.Name}' is {input.ElementType}; dataset inputs are float32.");
        }

        // Images: the probes see every model channels-first; a channels-last dataset was transposed by ArrangedFor.
        string layouts = input.Shape.Count == 4
            ? $" (image datasets are accepted as [N, C, H, W] or [N, H, W, C]{(model is ChannelsFirstView view ? $"; the model declares [{string.Join(", ", view.ChannelsLastInput.Shape)}], channels-last" : "")})"
            : "";
        if (input.Shape.Count != InputShape.Count)
        {
            throw new DatasetRejectedException(
                $"Dataset inputs have rank {InputShape.Count} [{string.Join(", ", InputShape)}] but the model's input '{input.Name}' has rank {input.Shape.Count} [{string.Join(", ", input.Shape)}]{layouts}.");
        }

        // Dimension 0 is the batch; a model exported with a fixed batch of 1 still runs on batches.
        for (int i = 1; i < input.Shape.Count; i++)
        {
            if (input.Shape[i] > 0 && input.Shape[i] != InputShape[i])
            {
                throw new DatasetRejectedException(
                    $"Dataset inputs have shape [{string.Join(", ", InputShape)}] but the model expects [{string.Join(", ", input.Shape)}] (dimension {i} differs){layouts}.");
            }
        }

        if (Labels is not null && model.Outputs.Count > 0 && model.Outputs[0].Shape.Count == 2 && model.Outputs[0].Shape[1] > 0)
        {
            long classes = model.Outputs[0].Shape[1];
            long bad = Labels.FirstOrDefault(l => l < 0 || l >= classes, -1);
            if (Labels.Any(l => l < 0 || l >= classes))
            {
                throw new DatasetRejectedException($"Label {bad} is outside the model's {classes} classes.");
            }
        }
        else if (Labels is not null && Labels.Any(l => l < 0))
        {
            throw new DatasetRejectedException("Labels must be non-negative class indices.");
        }
    }
}
