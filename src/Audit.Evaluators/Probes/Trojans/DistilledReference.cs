using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using Audit.Evaluators.Sessions;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Settings of the distilled reference model; part of the session cache key.</summary>
internal sealed record ReferenceSettings(int Steps, int BatchSize, double LearningRate, double Temperature, int Seed);

/// <summary>
/// A small classifier distilled from the audited model on the audit's clean inputs only: a reference for what the
/// audited model's decision function looks like <i>without</i> whatever the clean data never exercises.
/// </summary>
/// <remarks>
/// Why: on real data some classes are naturally cheap to reach (on Fashion-MNIST a small bright blob sends many
/// images to <i>bag</i>), so a clean model can have a class whose minimal trigger is an outlier, and a real 3×3
/// trigger can hide among such classes. The reference learns the audited model's soft predictions (knowledge
/// distillation, Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network", 2015) on clean inputs,
/// so it inherits the classes' natural features, while a backdoor, which clean inputs never activate, does not
/// transfer (the observation behind distillation-based backdoor removal, e.g. Li et al., "Neural Attention
/// Distillation", ICLR 2021). Shadow models trained on the defender's clean data as a yardstick follow Xu et al.,
/// "Detecting AI Trojans Using Meta Neural Analysis", IEEE S&amp;P 2021. The architecture is generic (two
/// convolution blocks for images, an MLP for vectors), so the reference's scale differs from the audited model's:
/// comparisons use ratios and robust statistics, never raw values. Initialisation, batch order and training are
/// seeded, so the reference is identical for a fixed seed on a given device.
/// </remarks>
internal sealed class DistilledReference : IDifferentiableModel
{
    /// <summary>Name of the penultimate representation, for activation clustering and spectral signatures.</summary>
    public const string PenultimateName = "reference_penultimate";

    private const string LogitsName = "reference_logits";

    private readonly Sequential features;
    private readonly Linear head;
    private readonly float low;
    private readonly float span;
    private readonly ProbeTimings? timings;

    private DistilledReference(IDifferentiableModel teacher, Sequential features, Linear head, float low, float span, ProbeTimings? timings)
    {
        this.timings = timings;
        this.features = features;
        this.low = low;
        this.span = span;
        this.head = head;
        Inputs = [teacher.Inputs[0]];
        Outputs = [new ValueSpec(LogitsName, ScalarType.Float32, [-1, head.weight!.shape[0]], ["N", null])];
        Device = teacher.Device;
    }

    public IReadOnlyList<ValueSpec> Inputs { get; }

    public IReadOnlyList<ValueSpec> Outputs { get; }

    public IReadOnlyList<string> ValueNames { get; } = [PenultimateName, LogitsName];

    public ComputeDevice Device { get; }

    /// <summary>The session's cache key of the reference distilled from <paramref name="evidence"/>'s model with <paramref name="settings"/>.</summary>
    public static string Key(ClassifierEvidence evidence, ReferenceSettings settings) =>
        $"distilled-reference|{evidence.ModelKey}|{evidence.DatasetKey}|{evidence.Low}|{evidence.High}|{settings}";

    /// <summary>
    /// The reference for <paramref name="evidence"/> and <paramref name="settings"/>, distilled once per audit and shared
    /// by the probes that compare with it (the trigger scan's calibration, the adversarial sink test); the session owns
    /// it. Training and the teacher's targets are seeded and run at the scan's intra-op thread count whoever calls them, so
    /// the shared reference is the one each probe would have trained. <paramref name="targets"/> gives the teacher's soft targets (<see cref="TeacherTargets"/>)
    /// when the reference has to be trained; a caller that runs this beside work on the audited model computes them
    /// beforehand, so training never calls the audited model. <paramref name="progress"/> hears the training steps when
    /// this call is the one that trains.
    /// </summary>
    public static DistilledReference Shared(ClassifierEvidence evidence, ReferenceSettings settings, Func<Tensor> targets, CancellationToken cancellationToken, IProgress<double>? progress = null) =>
        evidence.Session.GetOrCreate(Key(evidence, settings), () => Train(evidence, settings, targets(), progress, cancellationToken));

    /// <summary>
    /// The teacher's soft targets at the distillation temperature on every clean input (computed once, before training),
    /// at the scan's fixed intra-op thread count: callers run this outside their lanes, at whatever count the host set,
    /// and a forward pass split over another count rounds differently, so the reference, and every finding compared
    /// with it, would follow the host's setting (an adversarial-sink finding moved from 0.917 to 0.905 on an Intel Xeon
    /// depending on which thread had computed the targets).
    /// </summary>
    public static Tensor TeacherTargets(ClassifierEvidence evidence, ReferenceSettings settings, CancellationToken cancellationToken)
    {
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var noGrad = torch.no_grad();
        return evidence.Probabilities(evidence.Inputs, settings.Temperature, cancellationToken);
    }

    /// <summary>
    /// Distils a reference from <paramref name="evidence"/>'s model on its clean inputs, given the teacher's soft
    /// targets (<see cref="TeacherTargets"/>): training never calls the audited model, so it can run while another
    /// thread optimises triggers on it.
    /// </summary>
    public static DistilledReference Train(ClassifierEvidence evidence, ReferenceSettings settings, Tensor targets, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        // Every caller trains inside a one-thread lane; pinned here too, so the reference is the same from any thread.
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        long[] sample = evidence.Inputs.shape[1..];
        using var generator = new torch.Generator((ulong)settings.Seed + 303);
        (Sequential features, Linear head) = Build(sample, evidence.Classes);
        Initialise([.. features.parameters(), .. head.parameters()], generator);
        features.to(evidence.Device);
        head.to(evidence.Device);
        // Inputs are centred and scaled by the valid range, so one learning rate suits 0..1, 0..255 and normalised data.
        var reference = new DistilledReference(evidence.Model, features, head, evidence.Low, evidence.High - evidence.Low, evidence.Timings);

        try
        {
            Distil(reference, evidence, settings, targets, generator, progress, cancellationToken);
        }
        catch
        {
            // Cancelled or failed: the modules hold native memory that nothing else will release.
            reference.Dispose();
            throw;
        }

        features.eval();
        head.eval();
        // Trained: from here on gradients are only taken with respect to inputs (trigger masks, adversarial walks).
        // Parameters that still required gradients made every later backward pass compute and accumulate weight
        // gradients nobody reads, which was most of the reference's backward time; the input gradients are the same.
        foreach (Parameter parameter in features.parameters().Concat(head.parameters()))
        {
            parameter.requires_grad_(false);
        }

        return reference;
    }

    private static void Distil(DistilledReference reference, ClassifierEvidence evidence, ReferenceSettings settings, Tensor targets, torch.Generator generator, IProgress<double>? progress, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        double temperature = settings.Temperature;

        Parameter[] parameters = [.. reference.features.parameters(), .. reference.head.parameters()];
        using var optimizer = new HeldScalarAdam(parameters, settings.LearningRate);
        int n = evidence.Count;
        int batch = Math.Min(settings.BatchSize, n);
        Tensor order = torch.randperm(n, generator: generator).to(evidence.Device);
        int position = 0;
        for (int step = 0; step < settings.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            if (position + batch > n)
            {
                order.Dispose();
                order = torch.randperm(n, generator: generator).to(evidence.Device).MoveToOuterDisposeScope();
                position = 0;
            }

            Tensor index = order.narrow(0, position, batch);
            position += batch;
            Tensor x = evidence.Inputs.index_select(0, index);
            Tensor logits = reference.Forward(x);
            // Cross-entropy against the teacher's soft targets: the distillation KL up to a constant.
            Tensor loss = (-(targets.index_select(0, index) * logits.Div(temperature).log_softmax(1)).sum(1).mean()).Mul(temperature * temperature);
            optimizer.zero_grad();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            loss.backward();
            evidence.Timings?.Add(TimedPhase.ReferenceBackward, System.Diagnostics.Stopwatch.GetTimestamp() - start);
            optimizer.step();
            if ((step + 1) % 10 == 0)
            {
                progress?.Report((step + 1) / (double)settings.Steps);
            }
        }
    }

    /// <summary>Share of the clean inputs on which the reference predicts the audited model's class: how faithful the copy is.</summary>
    public double Agreement(ClassifierEvidence teacher, CancellationToken cancellationToken)
    {
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        using ClassifierEvidence self = teacher.WithModel(this, "reference-agreement");
        Tensor own = self.Predict(teacher.Inputs, cancellationToken);
        return teacher.Predict(teacher.Inputs, cancellationToken).eq(own).to_type(ScalarType.Float32).mean().item<float>();
    }

    /// <summary>
    /// Bytes of activations one input of shape <paramref name="sample"/> costs in a forward pass: the scaled input, its
    /// channels-last copy and every layer's output, from a forward pass of one zero input.
    /// </summary>
    public long ActivationBytesPerRow(long[] sample)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor x = torch.zeros([1, .. sample], device: Device.Torch);
        long bytes = 3 * x.NumberOfElements * x.ElementSize;
        x = ChannelsLast(x);
        foreach ((string _, nn.Module<Tensor, Tensor> layer) in features.named_children().Select(c => (c.name, (nn.Module<Tensor, Tensor>)c.module)))
        {
            x = layer.forward(x);
            bytes += x.NumberOfElements * x.ElementSize;
        }

        return bytes + head.forward(x).NumberOfElements * 4;
    }

    public Tensor Forward(Tensor input)
    {
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            return head.forward(features.forward(ChannelsLast(input.Sub(low).Div(span))));
        }
        finally
        {
            timings?.Add(TimedPhase.ReferenceForward, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        }
    }

    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        if (replace is { Count: > 0 })
        {
            throw new NotSupportedException("The distilled reference does not support activation patching.");
        }

        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        Tensor penultimate = features.forward(ChannelsLast(inputs[Inputs[0].Name].Sub(low).Div(span)));
        Tensor logits = head.forward(penultimate);
        timings?.Add(TimedPhase.ReferenceForward, System.Diagnostics.Stopwatch.GetTimestamp() - start);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [LogitsName] = logits };
        if (capture?.Contains(PenultimateName) == true)
        {
            result[PenultimateName] = penultimate;
        }

        return result;
    }

    /// <summary>
    /// Images in channels-last strides (same values and shape): libtorch then runs the small first convolution with
    /// oneDNN's channels-last kernel, several times faster than its NCHW one (the reference's forward was half the
    /// scan's time), and the later layers keep that layout. Vectors pass unchanged.
    /// </summary>
    private static Tensor ChannelsLast(Tensor x)
    {
        if (x.dim() != 4)
        {
            return x;
        }

        long[] s = x.shape;
        return s[1] == 1
            ? x.reshape(s[0], s[2], s[3], 1).permute(0, 3, 1, 2)
            : x.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2);
    }

    public void Dispose()
    {
        features.Dispose();
        head.Dispose();
    }

    /// <summary>
    /// Two convolution blocks (16 and 32 channels, ReLU, 2×2 max-pooling), average-pooled to at most 7×7 (left out where the map is already that size), and a
    /// 64-wide hidden layer, for images of at least 8×8; otherwise a two-hidden-layer MLP over the flattened input.
    /// </summary>
    internal static (Sequential Features, Linear Head) Build(long[] sample, int classes)
    {
        const int Hidden = 64;
        if (sample.Length == 3 && sample[1] >= 8 && sample[2] >= 8)
        {
            long h = Math.Min(7, sample[1] / 4), w = Math.Min(7, sample[2] / 4);
            List<(string, nn.Module<Tensor, Tensor>)> layers =
            [
                ("conv1", nn.Conv2d(sample[0], 16, 3, padding: 1)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(16, 32, 3, padding: 1)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
            ];

            // The two poolings leave ⌊H/4⌋×⌊W/4⌋; only larger maps are averaged down to 7×7. Averaging a map onto its
            // own size divides each value by one, so leaving it out changes no number, and its backward kernel was
            // about 5 % of a 28×28 audit's CPU time.
            if (sample[1] / 4 != h || sample[2] / 4 != w)
            {
                layers.Add(("shrink", nn.AdaptiveAvgPool2d([h, w])));
            }

            layers.Add(("flatten", nn.Flatten()));
            layers.Add(("fc1", nn.Linear(32 * h * w, Hidden)));
            layers.Add(("relu3", nn.ReLU()));
            return (nn.Sequential(layers), nn.Linear(Hidden, classes));
        }

        long width = sample.Aggregate(1L, (a, b) => a * b);
        Sequential dense = nn.Sequential(
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(width, 128)),
            ("relu1", nn.ReLU()),
            ("fc2", nn.Linear(128, Hidden)),
            ("relu2", nn.ReLU()));
        return (dense, nn.Linear(Hidden, classes));
    }

    /// <summary>PyTorch's default scale (uniform in ±1/√fan-in), drawn from the seeded generator instead of the global one.</summary>
    private static void Initialise(IEnumerable<Parameter> parameters, torch.Generator generator)
    {
        using var noGrad = torch.no_grad();
        Parameter[] all = [.. parameters];
        for (int i = 0; i < all.Length; i++)
        {
            // Weights come before their bias; a bias takes its weight's fan-in.
            Parameter weight = all[i].dim() > 1 ? all[i] : all[i - 1];
            long fanIn = weight.shape[1..].Aggregate(1L, (a, b) => a * b);
            double bound = 1 / Math.Sqrt(fanIn);
            using Tensor values = torch.rand(all[i].shape, generator: generator).Mul(2 * bound).Sub(bound);
            all[i].copy_(values);
        }
    }
}
