using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Neuron stimulation, after Liu, Lee, Tao, Ma, Aafer and Zhang, "ABS: Scanning Neural Networks for Back-doors by
/// Artificial Brain Stimulation", ACM CCS 2019: a backdoor is carried by a few inner neurons that, once the trigger
/// excites them, outvote everything else the input says. Raising one such neuron alone, with every other activation
/// left as the clean input made it, sends inputs of every class to the target; raising a natural feature's neuron
/// moves only some inputs, or moves them towards different classes. Independent of every other detector: no trigger
/// search, no reference, no candidate.
/// </summary>
/// <remarks>
/// Values stimulated: the graph's float activations of shape <c>[N, C]</c> or <c>[N, C, H, W]</c> that are
/// non-negative on clean inputs (after a ReLU or a pooling of one: where ABS stimulates), have 2 to
/// <c>maxNeurons</c> channels, are not the model's input or a copy of it, and are not the head's class scores; at most
/// <c>maxValues</c> of them, evenly spread. A neuron is a channel (for a feature map, every position of it). For each
/// neuron, each of <c>levels</c> stimulation values up to <c>stimulationBound</c> times the largest activation its value
/// shows on the clean inputs is written into that channel of the clean inputs' activations (the first
/// <c>inputsPerClass</c> of each predicted class), and the class scores are read. ABS's elevation of class t by neuron n:
/// per input not already predicted t, the largest margin of t over the best other class across the levels; the
/// neuron's drive towards t is the smallest such margin over those inputs (positive: every input goes to t).
/// Per class, D_t is the strongest drive of any neuron; statistic: the largest robust z over classes (median,
/// 1.4826 · MAD floored at <c>0.1</c> of the median's magnitude and at 0.1 logit) of D_t, suspected class its argmax,
/// flagged at 3.5 (Iglewicz and Hoaglin's outlier cut-off, not tuned). A class that a single neuron drives every input
/// to, far beyond what single neurons do for the other classes, is how ABS's compromised neurons look from outside.
/// Assumptions and limits: a backdoor carried by few neurons of the stimulated values (ABS's own assumption; triggers
/// spread over many neurons, as blends and warps can be, are not what it sees); a source-specific trigger shows only
/// through neurons that come after the model has combined source and trigger. Deterministic: no randomness, the first
/// inputs of each class are used.
/// </remarks>
public sealed class NeuronStimulationProbe : IProbe
{
    /// <summary>Registered name.</summary>
    public const string Name = "neuron-stimulation";

    /// <summary>Floor of the spread, as a share of the median drive's magnitude and in logits (ten classes give a coarse MAD).</summary>
    private const double MinimumSpreadShare = 0.1;

    private const double MinimumSpread = 0.1;

    /// <summary>Bounds, as multiples of a value's largest clean activation, whose readings are reported beside the configured one.</summary>
    private static readonly double[] ReportedBounds = [1, 2, 4, 8];

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        Name,
        "Neuron stimulation (ABS)",
        "Liu, Lee, Tao, Ma, Aafer and Zhang, ABS: Scanning Neural Networks for Back-doors by Artificial Brain Stimulation, ACM CCS 2019; robust z: Iglewicz and Hoaglin, 1993",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 3.5,
        ThresholdMeaning: "Largest robust z over classes (median and MAD) of the strongest drive of any single stimulated inner neuron towards the class (the smallest margin it gives the class over clean inputs of other classes); flagged when ≥ threshold (Iglewicz and Hoaglin's outlier cut-off).",
        [
            new ProbeParameter("inputsPerClass", ProbeParameterType.Integer, "Clean inputs per predicted class whose activations are stimulated (each class's first).", ProbeParameters.Json(5), 1, 100),
            new ProbeParameter("levels", ProbeParameterType.Integer, "Stimulation values per neuron, evenly spaced up to the bound.", ProbeParameters.Json(16), 2, 64),
            new ProbeParameter("stimulationBound", ProbeParameterType.Number, "Largest stimulation, as a multiple of the largest activation the neuron's value shows on the clean inputs.", ProbeParameters.Json(8.0), 0.1, 100),
            new ProbeParameter("maxValues", ProbeParameterType.Integer, "Most graph values stimulated (evenly spread over those eligible).", ProbeParameters.Json(12), 1, 256),
            new ProbeParameter("maxNeurons", ProbeParameterType.Integer, "Values with more channels than this are not stimulated (flattened copies of feature maps, wide inputs).", ProbeParameters.Json(512), 2, 8192),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    /// <summary>One neuron's strongest drive towards each class, per reported bound: <c>[bounds][classes]</c>.</summary>
    private sealed record NeuronDrive(string Value, int Channel, double[][] Drive);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        int perClass = parameters.Int("inputsPerClass"), levels = parameters.Int("levels"), maxValues = parameters.Int("maxValues"), maxNeurons = parameters.Int("maxNeurons");
        double bound = parameters.Double("stimulationBound");
        double[] bounds = [.. ReportedBounds.Where(b => b < bound), bound];

        // The scans' fixed thread count (IntraOpThreads): the same statistic on any machine's thread count.
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        long[] predictedAll = evidence.Predict(evidence.Inputs, cancellationToken).cpu().data<long>().ToArray();
        int[] chosen = [.. Enumerable.Range(0, evidence.Classes)
            .SelectMany(k => Enumerable.Range(0, predictedAll.Length).Where(i => predictedAll[i] == k).Take(perClass))
            .Order()];
        int[] predicted = [.. chosen.Select(i => (int)predictedAll[i])];
        int classesSeen = predicted.Distinct().Count();
        if (classesSeen < 3)
        {
            return ProbeOutcome.Inconclusive(string.Create(CultureInfo.InvariantCulture, $"The model assigns the clean inputs to {classesSeen} class(es); stimulating neurons needs inputs of at least three classes to compare."));
        }

        Tensor inputs = evidence.Inputs.index_select(0, torch.tensor(chosen, device: evidence.Device));
        int count = chosen.Length;
        string input = evidence.Model.Inputs[0].Name, output = evidence.Model.Outputs[0].Name;
        IReadOnlyDictionary<string, Tensor> clean = evidence.Model.Run(new Dictionary<string, Tensor> { [input] = inputs }, evidence.Model.ValueNames);
        double inputSum = inputs.to_type(ScalarType.Float64).sum().item<double>();
        List<string> eligible = [.. evidence.Model.ValueNames.Where(name =>
            name != input && name != output
            && clean.TryGetValue(name, out Tensor? a)
            && a.dtype == ScalarType.Float32 && (a.dim() == 2 || a.dim() == 4) && a.shape[0] == count
            && a.shape[1] > 1 && a.shape[1] <= maxNeurons
            && !(a.dim() == 2 && a.shape[1] == evidence.Classes)
            && a.min().item<float>() >= 0 && a.max().item<float>() > 0
            && !IsInputCopy(a, inputs, inputSum))];
        if (eligible.Count == 0)
        {
            return ProbeOutcome.Inconclusive("The graph exposes no non-negative inner activation (after a ReLU) of 2 to " + maxNeurons.ToString(CultureInfo.InvariantCulture) + " channels to stimulate.");
        }

        List<string> values = eligible.Count <= maxValues
            ? eligible
            : [.. Enumerable.Range(0, maxValues).Select(i => eligible[(int)Math.Round(i * (eligible.Count - 1) / (double)Math.Max(1, maxValues - 1))]).Distinct()];
        int totalNeurons = values.Sum(v => (int)clean[v].shape[1]);
        var neurons = new List<NeuronDrive>(totalNeurons);
        int done = 0;
        foreach (string value in values)
        {
            Tensor activation = clean[value];
            double largest = activation.max().item<float>();
            for (int channel = 0; channel < activation.shape[1]; channel++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                neurons.Add(new NeuronDrive(value, channel, Stimulate(evidence.Model, input, output, value, inputs, activation, channel, largest, bound, levels, bounds, predicted, evidence.Classes)));
                context.Progress.Report(++done / (double)totalNeurons);
            }
        }

        // Per bound: each class's strongest drive by any neuron, and its robust z over classes.
        var readings = new JsonArray();
        (double Statistic, int Suspected, double Drive) configured = (double.NaN, -1, double.NaN);
        for (int b = 0; b < bounds.Length; b++)
        {
            double[] drive = [.. Enumerable.Range(0, evidence.Classes).Select(t => neurons.Max(n => n.Drive[b][t]))];
            double[] finite = [.. drive.Where(double.IsFinite)];
            double median = SampleStatistics.Median(finite);
            double spread = Math.Max(Math.Max(1.4826 * SampleStatistics.MedianAbsoluteDeviation(finite), MinimumSpreadShare * Math.Abs(median)), MinimumSpread);
            double[] z = [.. drive.Select(d => double.IsFinite(d) ? (d - median) / spread : double.NaN)];
            int top = Enumerable.Range(0, z.Length).Where(t => double.IsFinite(z[t])).MaxBy(t => z[t]);
            NeuronDrive strongest = neurons.MaxBy(n => n.Drive[b][top])!;
            readings.Add(new JsonObject
            {
                ["bound"] = bounds[b],
                ["statistic"] = Math.Round(z[top], 4),
                ["suspectedClass"] = top,
                ["drive"] = new JsonArray([.. drive.Select(d => (JsonNode?)(double.IsFinite(d) ? Math.Round(d, 4) : null))]),
                ["z"] = new JsonArray([.. z.Select(v => (JsonNode?)(double.IsFinite(v) ? Math.Round(v, 4) : null))]),
                ["neuronsDrivingEveryInput"] = new JsonArray([.. Enumerable.Range(0, evidence.Classes).Select(t => (JsonNode)neurons.Count(n => n.Drive[b][t] > 0))]),
                ["strongestNeuron"] = new JsonObject { ["value"] = strongest.Value, ["channel"] = strongest.Channel },
            });
            if (b == bounds.Length - 1)
            {
                configured = (z[top], top, drive[top]);
            }
        }

        double threshold = context.Threshold;
        bool flagged = configured.Statistic >= threshold;
        var details = new JsonObject
        {
            ["statistic"] = Math.Round(configured.Statistic, 4),
            ["threshold"] = threshold,
            ["suspectedTargetClass"] = configured.Suspected,
            ["stimulatedInputs"] = count,
            ["valuesEligible"] = eligible.Count,
            ["valuesStimulated"] = new JsonArray([.. values.Select(v => (JsonNode)new JsonObject { ["value"] = v, ["shape"] = new JsonArray([.. clean[v].shape.Select(d => (JsonNode)d)]) })]),
            ["neurons"] = neurons.Count,
            ["levels"] = levels,
            ["stimulationBound"] = bound,
            ["readings"] = readings,
            ["seconds"] = Math.Round(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, 2),
            ["method"] = "ABS neuron stimulation: one channel at a time set to each level on clean inputs' activations; per class the strongest single-neuron drive (smallest margin over inputs of other classes), robust z over classes",
            ["device"] = evidence.Model.Device.Name,
        };
        if (Environment.GetEnvironmentVariable("AUDIT_EXP_NEURONS") == "1")
        {
            details["neuronDrives"] = new JsonArray([.. neurons.Select(n => (JsonNode)new JsonObject
            {
                ["v"] = n.Value,
                ["c"] = n.Channel,
                ["d"] = new JsonArray([.. n.Drive.Select(row => (JsonNode)new JsonArray([.. row.Select(x => (JsonNode?)(double.IsFinite(x) ? Math.Round(x, 2) : null))]))]),
            })]);
        }

        double driven = configured.Drive;
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"A single inner neuron, raised up to {bound:0.##}× its layer's clean activations, drives clean inputs of every other class to class {configured.Suspected} (margin {driven:F2}); the class stands {configured.Statistic:F2} robust z above what single neurons do for the other classes (≥ {threshold:F2}): the compromised-neuron shape of a backdoor (ABS).")
            : string.Create(CultureInfo.InvariantCulture, $"No class stands out as driven by a single stimulated inner neuron (largest: class {configured.Suspected}, margin {driven:F2}, robust z {configured.Statistic:F2} < {threshold:F2}; {neurons.Count} neurons of {values.Count} values, up to {bound:0.##}× their layer's clean activations).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, configured.Statistic / threshold, summary, details, []);
    }

    /// <summary>
    /// Whether <paramref name="value"/> is the input itself, reshaped or transposed (a channels-last model's first
    /// transpose): the same number of elements per input and the same total. Stimulating a pixel is not stimulating a
    /// neuron.
    /// </summary>
    private static bool IsInputCopy(Tensor value, Tensor inputs, double inputSum) =>
        value.numel() == inputs.numel()
        && Math.Abs(value.to_type(ScalarType.Float64).sum().item<double>() - inputSum) <= 1e-4 * Math.Max(1, Math.Abs(inputSum));

    /// <summary>
    /// One neuron at every level: the clean activations with <paramref name="channel"/> set to the level, written into
    /// a run on the same inputs. Returns, per reported bound, the drive towards each class: over the inputs not predicted
    /// that class, the smallest of each input's best margin (class score minus the best other) across the levels up to
    /// that bound.
    /// </summary>
    private static double[][] Stimulate(IDifferentiableModel model, string input, string output, string value, Tensor inputs, Tensor activation, int channel, double largest, double bound, int levels, double[] bounds, int[] predicted, int classes)
    {
        using var scope = torch.NewDisposeScope();
        int count = (int)activation.shape[0];
        double[] level = [.. Enumerable.Range(1, levels).Select(k => k * bound * largest / levels)];
        Tensor repeated = activation.repeat([levels, .. Enumerable.Repeat(1L, (int)activation.dim() - 1)]).clone();
        Tensor stimulus = torch.tensor(level, ScalarType.Float32, device: activation.device).repeat_interleave(count);
        Tensor shaped = stimulus.view([levels * count, .. Enumerable.Repeat(1L, (int)activation.dim() - 2)]);
        repeated.select(1, channel).copy_(activation.dim() == 2 ? stimulus : shaped.expand_as(repeated.select(1, channel)));
        Tensor batch = inputs.repeat([levels, .. Enumerable.Repeat(1L, (int)inputs.dim() - 1)]);
        Tensor scores = model.Run(new Dictionary<string, Tensor> { [input] = batch }, [], new Dictionary<string, Tensor> { [value] = repeated })[output];
        float[] s = scores.view(levels, count, classes).to_type(ScalarType.Float32).cpu().data<float>().ToArray();
        var result = new double[bounds.Length][];
        for (int b = 0; b < bounds.Length; b++)
        {
            int upTo = level.Count(l => l <= (bounds[b] * largest) + 1e-9);
            var drive = new double[classes];
            for (int t = 0; t < classes; t++)
            {
                double weakest = double.PositiveInfinity;
                for (int i = 0; i < count; i++)
                {
                    if (predicted[i] == t)
                    {
                        continue;
                    }

                    double best = double.NegativeInfinity;
                    for (int k = 0; k < upTo; k++)
                    {
                        int row = ((k * count) + i) * classes;
                        double other = double.NegativeInfinity;
                        for (int j = 0; j < classes; j++)
                        {
                            if (j != t && s[row + j] > other)
                            {
                                other = s[row + j];
                            }
                        }

                        best = Math.Max(best, s[row + t] - other);
                    }

                    weakest = Math.Min(weakest, best);
                }

                drive[t] = upTo == 0 ? double.NaN : weakest;
            }

            result[b] = drive;
        }

        return result;
    }
}
