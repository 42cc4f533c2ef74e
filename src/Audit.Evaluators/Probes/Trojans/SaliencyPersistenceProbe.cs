using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Saliency persistence, after Huang, Alzantot and Srivastava, "NeuronInspect: Detecting Backdoors in Neural Networks
/// via Output Explanations", arXiv:1911.07399, 2019: a backdoor's target class is explained by the trigger's pixels on
/// every input, so the saliency maps of its score over clean inputs of other classes keep putting their mass on the
/// same few pixels, where a natural class's maps follow each garment's shape. Independent of every other detector: no
/// trigger search, no reference, no candidate.
/// </summary>
/// <remarks>
/// For each class k and each of <c>probeInputs</c> clean inputs not predicted k, the map is |∂(s_k − mean s)/∂x|
/// summed over channels (s: the class scores), normalised to a distribution over pixels. The class's
/// <i>persistence</i> is the share of the mean map's mass on its top <c>topShare</c> of pixels (at least one): a
/// trigger the class listens to everywhere concentrates it. Per class, z_k = robust z over classes of log persistence
/// (median, 1.4826 · MAD, floored at 0.2: ten classes cannot resolve a natural spread finer than about ±20 %); statistic: the largest z, suspected class its argmax; threshold 3.5
/// (Iglewicz and Hoaglin's outlier cut-off, not tuned). Assumes image inputs and a localised trigger (patches,
/// including source-specific and low-rate ones when the target's score still leans on the patch for other sources);
/// input-wide triggers (blends, warps) spread their saliency and are not what it sees; a class whose natural
/// evidence is small and fixed in place can stand out. Deterministic: the first inputs are used, no randomness.
/// </remarks>
public sealed class SaliencyPersistenceProbe : IProbe, IAuditedModelDetector
{
    private const double MinimumSpread = 0.2;

    /// <summary>Shares of the pixels whose persistence is reported beside the configured one.</summary>
    private static readonly double[] ReportedShares = [0.005, 0.01, 0.02, 0.05, 0.1];

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "saliency-persistence",
        "Saliency persistence (NeuronInspect)",
        "Huang, Alzantot and Srivastava, NeuronInspect: Detecting Backdoors in Neural Networks via Output Explanations, arXiv:1911.07399, 2019; robust z: Iglewicz and Hoaglin, 1993",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 3.5,
        ThresholdMeaning: "Largest robust z over classes (median and MAD) of the log share of a class's mean saliency map held by its top pixels, over clean inputs of other classes; flagged when ≥ threshold (Iglewicz and Hoaglin's outlier cut-off).",
        [
            new ProbeParameter("probeInputs", ProbeParameterType.Integer, "Clean inputs whose saliency maps are taken (the dataset's first).", ProbeParameters.Json(200), 10, 5000),
            new ProbeParameter("topShare", ProbeParameterType.Number, "Share of the pixels, the most salient of the mean map, whose mass is a class's persistence.", ProbeParameters.Json(0.01), 0.001, 0.5),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => RunShared(context, cancellationToken), cancellationToken);

    /// <inheritdoc />
    ProbeOutcome ISharedTrojanDetector.RunHere(ProbeContext context, CancellationToken cancellationToken) => RunShared(context, cancellationToken);

    // Once per audit and parameters: trojan-likelihood may have had it computed already, in the trigger scan's wait.
    private ProbeOutcome RunShared(ProbeContext context, CancellationToken cancellationToken) =>
        SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        if (evidence.Inputs.dim() != 4)
        {
            return ProbeOutcome.Inconclusive("Saliency persistence needs image inputs [N, C, H, W].");
        }

        int count = Math.Min(parameters.Int("probeInputs"), evidence.Count);
        double topShare = parameters.Double("topShare");
        // The scans' fixed thread count, for the same reason (IntraOpThreads): at the pool thread's own count the clean
        // example's statistic was 1.3546 in one audit and 1.4402 in the next on one machine; the zoo survey that the
        // fit read measured it at one thread.
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        Tensor inputs = evidence.Inputs[..count];
        Tensor predicted = evidence.Predict(inputs, cancellationToken);
        long pixels = inputs.shape[2] * inputs.shape[3];
        int top = Math.Max(1, (int)Math.Round(topShare * pixels));
        var persistence = new double[evidence.Classes];
        var used = new int[evidence.Classes];
        double[][] shares = ReportedShares.Select(_ => new double[evidence.Classes]).ToArray();
        for (int k = 0; k < evidence.Classes; k++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var classScope = torch.NewDisposeScope();
            Tensor others = predicted.Ne(k).nonzero().flatten();
            used[k] = (int)others.shape[0];
            if (used[k] == 0)
            {
                persistence[k] = double.NaN;
                continue;
            }

            Tensor meanMap = MeanSaliency(evidence, inputs.index_select(0, others), k, cancellationToken);
            float mass = Math.Max(meanMap.sum().item<float>(), 1e-30f);
            persistence[k] = meanMap.flatten().topk(top).values.sum().item<float>() / mass;
            Tensor sorted = meanMap.flatten().sort(descending: true).Values;
            for (int v = 0; v < ReportedShares.Length; v++)
            {
                int t = Math.Max(1, (int)Math.Round(ReportedShares[v] * pixels));
                shares[v][k] = sorted[..t].sum().item<float>() / mass;
            }
            context.Progress.Report((k + 1) / (double)evidence.Classes);
        }

        double[] logs = persistence.Select(p => double.IsNaN(p) ? double.NaN : Math.Log(Math.Max(p, 1e-12))).ToArray();
        double[] finite = logs.Where(double.IsFinite).ToArray();
        if (finite.Length < 3)
        {
            return ProbeOutcome.Inconclusive("Fewer than three classes had clean inputs of other classes to explain.");
        }

        (double median, double spread) = SampleStatistics.RobustCentreAndSpread(finite, MinimumSpread);
        double[] z = logs.Select(v => double.IsFinite(v) ? (v - median) / spread : double.NegativeInfinity).ToArray();
        int suspected = Array.IndexOf(z, z.Max());
        double statistic = z[suspected];
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["persistence"] = new JsonArray(persistence.Select(p => (JsonNode)Math.Round(double.IsNaN(p) ? -1 : p, 5)).ToArray()),
            ["robustZ"] = new JsonArray(z.Select(v => (JsonNode)Math.Round(double.IsFinite(v) ? v : -99, 4)).ToArray()),
            ["inputsPerClass"] = new JsonArray(used.Select(u => (JsonNode)u).ToArray()),
            ["topPixels"] = top,
            ["persistenceAtShares"] = new JsonArray(ReportedShares.Select((share, v) => (JsonNode)new JsonObject
            {
                ["topShare"] = share,
                ["persistence"] = new JsonArray(shares[v].Select(p => (JsonNode)Math.Round(p, 6)).ToArray()),
            }).ToArray()),
            ["probeInputs"] = count,
            ["device"] = evidence.Model.Device.Name,
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
        };
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"Class {suspected}'s saliency over other classes' inputs keeps to the same {top} pixels ({persistence[suspected]:P0} of its mass; robust z {statistic:F2} ≥ {context.Threshold:F2}): the class listens to a fixed spot, as a patch trigger's target does.")
            : string.Create(CultureInfo.InvariantCulture, $"No class's saliency keeps to a fixed spot more than the others' (largest robust z {statistic:F2}, class {suspected}, < {context.Threshold:F2}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, []);
    }

    /// <summary>Mean over <paramref name="inputs"/> of each input's normalised |∂(s_k − mean s)/∂x|, summed over channels: [H, W].</summary>
    private static Tensor MeanSaliency(ClassifierEvidence evidence, Tensor inputs, int k, CancellationToken cancellationToken)
    {
        long rows = Math.Max(1, evidence.RowsPerForward(256, factor: 3));
        Tensor sum = torch.zeros(inputs.shape[2], inputs.shape[3], device: inputs.device);
        for (long start = 0; start < inputs.shape[0]; start += rows)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var batchScope = torch.NewDisposeScope();
            Tensor leaf = inputs.narrow(0, start, Math.Min(rows, inputs.shape[0] - start)).detach().requires_grad_(true);
            Tensor scores = evidence.Model.Forward(leaf).flatten(1);
            Tensor margin = scores[.., k] - scores.mean([1L]);
            margin.sum().backward();
            Tensor map = leaf.grad!.abs().sum([1L]);
            Tensor normalised = map / map.flatten(1).sum([1L]).ClampMin(1e-30f).reshape(-1, 1, 1);
            sum.AddInPlace(normalised.sum([0L]).detach());
        }

        return sum.Div(inputs.shape[0]);
    }
}
