using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using Audit.Evaluators.Sessions;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// The audited classifier with the audit's evidence: inputs on the model's device, the valid input range, the class
/// count, and the session's shared results. Shared plumbing of the trojan probes; owns nothing (the inputs belong to
/// the session's <see cref="AuditEvidence"/>), so disposing it is a no-op kept for the probes' <c>using</c> blocks.
/// </summary>
internal sealed class ClassifierEvidence : IDisposable
{
    /// <summary>Most inputs per batched forward pass without gradients (the bound before activations were measured).</summary>
    private const int ForwardBatch = 512;

    /// <summary>
    /// Bound on the activation bytes of one batched forward pass (every value the graph computes for its rows, summed,
    /// as a one-row measurement gives them): 128 MiB. At 1×28×28 the examples' CNNs need about 0.1–0.25 MB a row, so
    /// their forwards keep <see cref="ForwardBatch"/> rows and their numbers are unchanged; at 3×64×64 a CNN that
    /// convolves at full resolution needs about 1 MB a row, and 512 rows held more than 0.5 GB at once.
    /// </summary>
    public const long ForwardBytes = 128L << 20;

    /// <summary><see cref="ModelKey"/> of the audited model.</summary>
    public const string AuditedModel = "audited";

    private readonly Lazy<long> _activationBytesPerRow;
    private readonly HeapTrimmer _trimmer = new();

    private ClassifierEvidence(IDifferentiableModel model, string modelKey, DatasetArtifact dataset, string datasetKey, Tensor inputs, float low, float high, int classes, SessionCache session, ProbeTimings? timings)
    {
        _activationBytesPerRow = new Lazy<long>(MeasureActivationBytesPerRow, LazyThreadSafetyMode.ExecutionAndPublication);
        Model = model;
        ModelKey = modelKey;
        Dataset = dataset;
        DatasetKey = datasetKey;
        Inputs = inputs;
        Low = low;
        High = high;
        Classes = classes;
        Session = session;
        Timings = timings;
    }

    public IDifferentiableModel Model { get; }

    /// <summary>Names the model within the session's cache (the audited model, or a reference derived from it).</summary>
    public string ModelKey { get; }

    public DatasetArtifact Dataset { get; }

    /// <summary>Identifies the dataset in the session's cache keys.</summary>
    public string DatasetKey { get; }

    /// <summary>All dataset inputs <c>[N, ...]</c> on the model's device; owned by the session, never modified.</summary>
    public Tensor Inputs { get; }

    /// <summary>
    /// Lowest valid input value: from the profile's <c>inputBounds</c>, else the dataset minimum over every channel (a
    /// channel with a range of its own is mapped onto the common one: <see cref="ChannelRanges"/>).
    /// </summary>
    public float Low { get; }

    /// <summary>Highest valid input value.</summary>
    public float High { get; }

    public int Classes { get; }

    /// <summary>Results shared by the probes of the audit (the trigger scan).</summary>
    public SessionCache Session { get; }

    /// <summary>Optional observer of where the time goes.</summary>
    public ProbeTimings? Timings { get; }

    public Device Device => Model.Device.Torch;

    public int Count => (int)Inputs.shape[0];

    /// <summary>
    /// Bytes of activations one input row costs in a forward pass of <see cref="Model"/>: the input and every value the
    /// model computes for it (graph values, or the reference's layer outputs), measured once from a forward pass of two
    /// rows. An upper bound on what a forward without gradients holds at once (imported graphs free each value after its
    /// last reader) and close to what a forward with gradients keeps for the backward pass.
    /// </summary>
    public long ActivationBytesPerRow => _activationBytesPerRow.Value;

    /// <summary>
    /// Rows per batched forward pass so that its activations stay within <paramref name="budgetBytes"/> (<paramref name="factor"/>
    /// times the activations per row: 2 for a forward with backward, whose gradients are as large again), at least one
    /// and at most <paramref name="most"/>.
    /// </summary>
    public int RowsPerForward(int most, long budgetBytes = ForwardBytes, double factor = 1) =>
        (int)Math.Clamp((long)(budgetBytes / (factor * Math.Max(1, ActivationBytesPerRow))), 1, Math.Max(1, most));

    /// <summary>Loads the model and dataset of <paramref name="context"/> and checks that they fit together.</summary>
    /// <exception cref="DatasetRejectedException">No dataset, or it does not fit the model.</exception>
    public static ClassifierEvidence Load(ProbeContext context, double[] bounds, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(context.DatasetPath))
        {
            throw new DatasetRejectedException("This probe needs a dataset of clean inputs, and the audit has none.");
        }

        IDifferentiableModel model = context.Models.Load(cancellationToken);
        DatasetArtifact dataset = context.Evidence.Dataset(model);
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

        Tensor inputs = context.Evidence.Inputs();
        torch.Device modelDevice = model.Device.Torch;
        if (inputs.device_type != modelDevice.type || (modelDevice.type != DeviceType.CPU && inputs.device_index != modelDevice.index))
        {
            throw new InvalidOperationException($"The evidence is on {inputs.device}, the model on {model.Device.Name}.");
        }

        // Channels standardised each their own way are read each on its own range (ChannelRanges); bounds the profile
        // gives are one range for every channel, as declared. The mapped inputs are a second tensor of the evidence's
        // size, made once per audit: the accuracy probe and the inventory still read the evidence as uploaded.
        if (bounds.Length != 2 && model.Inputs[0].Shape.Count == 4)
        {
            ChannelRanges ranges = context.Session.GetOrCreate(ChannelRanges.SessionKey(context.DatasetPath), () => ChannelRanges.Of(dataset));
            if (ranges.ReadPerChannel)
            {
                var view = new ChannelRangeView(model, ranges.Scale, ranges.Offset);
                Tensor raw = inputs;
                inputs = context.Session.GetOrCreate($"channel-range-inputs|{context.DatasetPath}", () => ProbeSpaceInputs(view, raw));
                model = view;
            }
        }

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
            throw new DatasetRejectedException("The model's first output must be class scores [N, C] with C ≥ 2.");
        }

        // Once per audit: a model whose scores are NaN or infinite (a diverged training) makes every statistic NaN,
        // and a NaN anomaly index compared with a threshold reads as "not flagged" — a pass on a model nobody measured.
        string notFinite = context.Session.GetOrCreate($"finite-scores|{context.DatasetPath}", () => NonFiniteScores(model, inputs));
        if (notFinite.Length > 0)
        {
            throw new InvalidOperationException(notFinite);
        }

        return new ClassifierEvidence(model, AuditedModel, dataset, context.DatasetPath, inputs, low, high, classes, context.Session, context.Timings);
    }

    /// <summary>The evidence's inputs as <paramref name="view"/>'s probes see them, held by the session (outside any probe's dispose scope).</summary>
    private static Tensor ProbeSpaceInputs(ChannelRangeView view, Tensor raw)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        return view.ToProbes(raw).contiguous().DetachFromDisposeScope();
    }

    /// <summary>Inputs whose scores are checked for NaN and infinity before any trojan probe reads the model.</summary>
    private const int FiniteCheckInputs = 16;

    /// <summary>Empty when the model's scores on the first clean inputs are finite; else why no trojan probe can read it.</summary>
    private static string NonFiniteScores(IDifferentiableModel model, Tensor inputs)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        long count = Math.Min(FiniteCheckInputs, inputs.shape[0]);
        Tensor scores = model.Forward(inputs[..(int)count]);
        long rows = scores.reshape(scores.shape[0], -1).isfinite().all(1).logical_not().sum().item<long>();
        return rows == 0
            ? ""
            : string.Create(
                System.Globalization.CultureInfo.InvariantCulture,
                $"The model's class scores are not finite numbers (NaN or infinity) on {rows} of the first {count} evidence inputs: its training probably diverged, and no trojan statistic can be measured on it.");
    }

    /// <summary>Predicted classes of <paramref name="inputs"/>, batched, on the device.</summary>
    public Tensor Predict(Tensor inputs, CancellationToken cancellationToken) =>
        Batched(inputs, batch => Model.Forward(batch).argmax(1), cancellationToken);

    /// <summary>Softmax probabilities of <paramref name="inputs"/>, batched, on the device.</summary>
    public Tensor Probabilities(Tensor inputs, CancellationToken cancellationToken) =>
        Probabilities(inputs, 1, cancellationToken);

    /// <summary>Softmax probabilities at <paramref name="temperature"/> (logits divided by it), batched, on the device.</summary>
    public Tensor Probabilities(Tensor inputs, double temperature, CancellationToken cancellationToken) =>
        Batched(inputs, batch => Model.Forward(batch).Div(temperature).softmax(1), cancellationToken);

    /// <summary>The same inputs, bounds and classes with another model (a reference), named <paramref name="modelKey"/> in the session's cache.</summary>
    public ClassifierEvidence WithModel(IDifferentiableModel other, string modelKey) =>
        new(other, modelKey, Dataset, DatasetKey, Inputs, Low, High, Classes, Session, Timings);

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

    /// <summary>
    /// <paramref name="run"/> over <paramref name="count"/> rows in forward-sized batches (<see cref="RowsPerForward"/>),
    /// without gradients; <paramref name="run"/> gets each batch's first row and size and returns one result row per
    /// input row. Each batch's intermediates are released before the next batch starts.
    /// </summary>
    public Tensor Batched(long count, Func<long, long, Tensor> run, CancellationToken cancellationToken, long budgetBytes = ForwardBytes)
    {
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var parts = new List<Tensor>();
        long rows = RowsPerForward(ForwardBatch, budgetBytes);
        for (long start = 0; start < count; start += rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var batchScope = torch.NewDisposeScope();
            parts.Add(run(start, Math.Min(rows, count - start)).MoveToOuterDisposeScope());
        }

        Tensor result = torch.cat(parts, 0).MoveToOuterDisposeScope();
        // The batches' activations were freed; hand their pages back if the process is large and has grown since the
        // last trim (see HeapTrimmer).
        _trimmer.TrimWhenGrown();
        return result;
    }

    private Tensor Batched(Tensor inputs, Func<Tensor, Tensor> run, CancellationToken cancellationToken) =>
        Batched(inputs.shape[0], (start, size) => run(inputs.narrow(0, start, size)), cancellationToken);

    private long MeasureActivationBytesPerRow()
    {
        if (Model is DistilledReference reference)
        {
            return reference.ActivationBytesPerRow(Inputs.shape[1..]);
        }

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        const long Rows = 2;
        Tensor rows = Inputs[..(int)Math.Min(Rows, Count)];
        IReadOnlyDictionary<string, Tensor> values = Model.Run(new Dictionary<string, Tensor> { [Model.Inputs[0].Name] = rows }, Model.ValueNames);
        // Values with a batch dimension only (shapes and constants do not grow with the rows); each tensor once.
        long bytes = rows.NumberOfElements * rows.ElementSize;
        foreach (Tensor value in values.Values.Distinct())
        {
            if (value.dim() > 0 && value.shape[0] == rows.shape[0])
            {
                bytes += value.NumberOfElements * value.ElementSize;
            }
        }

        return Math.Max(1, bytes / rows.shape[0]);
    }

    /// <summary>Nothing to release: the inputs belong to the session.</summary>
    public void Dispose()
    {
    }
}
