using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// The audited classifier with its evidence dataset: inputs on the model's device, the valid input range,
/// and the class count. Shared plumbing of the trojan probes; owns only the dataset tensor.
/// </summary>
internal sealed class ClassifierEvidence : IDisposable
{
    private const int ForwardBatch = 512;

    private readonly bool ownsInputs;

    private ClassifierEvidence(IDifferentiableModel model, DatasetArtifact dataset, string datasetKey, Tensor inputs, float low, float high, int classes, bool ownsInputs = true)
    {
        this.ownsInputs = ownsInputs;
        Model = model;
        Dataset = dataset;
        DatasetKey = datasetKey;
        Inputs = inputs;
        Low = low;
        High = high;
        Classes = classes;
    }

    public IDifferentiableModel Model { get; }

    public DatasetArtifact Dataset { get; }

    /// <summary>Identifies the dataset for memoisation across probes of one audit.</summary>
    public string DatasetKey { get; }

    /// <summary>All dataset inputs <c>[N, ...]</c> on the model's device.</summary>
    public Tensor Inputs { get; }

    /// <summary>Lowest valid input value: from the profile's <c>inputBounds</c>, else the dataset minimum.</summary>
    public float Low { get; }

    /// <summary>Highest valid input value.</summary>
    public float High { get; }

    public int Classes { get; }

    public Device Device => Model.Device.Torch;

    public int Count => (int)Inputs.shape[0];

    /// <summary>Loads the model and dataset of <paramref name="context"/> and checks that they fit together.</summary>
    /// <exception cref="DatasetRejectedException">No dataset, or it does not fit the model.</exception>
    public static ClassifierEvidence Load(ProbeContext context, double[] bounds, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(context.DatasetPath))
        {
            throw new DatasetRejectedException("This probe needs a dataset of clean inputs, and the audit has none.");
        }

        IDifferentiableModel model = context.Models.Load(cancellationToken);
        DatasetArtifact dataset = SafetensorsDataset.Read(context.DatasetPath);
        dataset.EnsureFits(model);
        if (dataset.Count < 20)
        {
            throw new DatasetRejectedException($"The dataset has {dataset.Count} samples; these probes need at least 20.");
        }

        (float low, float high) = dataset.Bounds();
        if (bounds.Length == 2)
        {
            if (!(bounds[0] < bounds[1]))
            {
                throw new ArgumentException("inputBounds must be [low, high] with low < high.", nameof(bounds));
            }

            (low, high) = ((float)bounds[0], (float)bounds[1]);
        }

        if (!(low < high))
        {
            throw new DatasetRejectedException("Every dataset input has the same value: the valid input range cannot be inferred; give inputBounds.");
        }

        Tensor inputs = dataset.InputsTensor(model.Device.Torch);
        int classes;
        long declared = model.Outputs[0].Shape.Count == 2 ? model.Outputs[0].Shape[1] : -1;
        if (declared > 0)
        {
            classes = (int)declared;
        }
        else
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            classes = (int)model.Forward(inputs[..1]).shape[^1];
        }

        if (classes < 2)
        {
            inputs.Dispose();
            throw new DatasetRejectedException("The model's first output must be class scores [N, C] with C ≥ 2.");
        }

        var info = new FileInfo(context.DatasetPath);
        string key = $"{info.FullName}|{info.Length}|{info.LastWriteTimeUtc.Ticks}";
        return new ClassifierEvidence(model, dataset, key, inputs, low, high, classes);
    }

    /// <summary>Predicted classes of <paramref name="inputs"/>, batched, on the device.</summary>
    public Tensor Predict(Tensor inputs, CancellationToken cancellationToken) =>
        Batched(inputs, batch => Model.Forward(batch).argmax(1), cancellationToken);

    /// <summary>Softmax probabilities of <paramref name="inputs"/>, batched, on the device.</summary>
    public Tensor Probabilities(Tensor inputs, CancellationToken cancellationToken) =>
        Probabilities(inputs, 1, cancellationToken);

    /// <summary>Softmax probabilities at <paramref name="temperature"/> (logits divided by it), batched, on the device.</summary>
    public Tensor Probabilities(Tensor inputs, double temperature, CancellationToken cancellationToken) =>
        Batched(inputs, batch => (Model.Forward(batch) / temperature).softmax(1), cancellationToken);

    /// <summary>The same inputs, bounds and classes with another model (a reference); shares, and does not own, the inputs.</summary>
    public ClassifierEvidence WithModel(IDifferentiableModel other) =>
        new(other, Dataset, DatasetKey, Inputs, Low, High, Classes, ownsInputs: false);

    /// <summary>Activations of <paramref name="layer"/> flattened to <c>[N, D]</c>, batched, on the device.</summary>
    public Tensor Activations(Tensor inputs, string layer, CancellationToken cancellationToken)
    {
        string inputName = Model.Inputs[0].Name;
        return Batched(
            inputs,
            batch => Model.Run(new Dictionary<string, Tensor> { [inputName] = batch }, [layer])[layer].flatten(1),
            cancellationToken);
    }

    /// <summary>
    /// The representation layer: <paramref name="requested"/> when given, else the input of the classifier head,
    /// found as the last captured value of rank 2 whose width differs from the class count (for exported CNNs and
    /// MLPs that is the input of the last Gemm/MatMul).
    /// </summary>
    /// <exception cref="ArgumentException">The requested layer does not exist, or none can be found.</exception>
    public string ResolveLayer(string requested)
    {
        if (!string.IsNullOrWhiteSpace(requested))
        {
            if (!Model.ValueNames.Contains(requested))
            {
                throw new ArgumentException($"The model has no value named '{requested}'.", nameof(requested));
            }

            return requested;
        }

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        string inputName = Model.Inputs[0].Name;
        IReadOnlyDictionary<string, Tensor> values = Model.Run(new Dictionary<string, Tensor> { [inputName] = Inputs[..2] }, Model.ValueNames);
        string? found = null;
        foreach (string name in Model.ValueNames)
        {
            if (values.TryGetValue(name, out Tensor? value) && value.dim() == 2 && value.shape[0] == 2 && value.shape[1] != Classes && value.dtype == ScalarType.Float32)
            {
                found = name;
            }
        }

        return found ?? throw new ArgumentException("No penultimate representation (a [N, D] value before the logits) was found; name one with 'layer'.", nameof(requested));
    }

    private static Tensor Batched(Tensor inputs, Func<Tensor, Tensor> run, CancellationToken cancellationToken)
    {
        using var noGrad = torch.no_grad();
        var parts = new List<Tensor>();
        using var scope = torch.NewDisposeScope();
        for (long start = 0; start < inputs.shape[0]; start += ForwardBatch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            parts.Add(run(inputs.narrow(0, start, Math.Min(ForwardBatch, inputs.shape[0] - start))));
        }

        return torch.cat(parts, 0).MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        if (ownsInputs)
        {
            Inputs.Dispose();
        }
    }
}
