using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Weight signature of the classifier head, after Fields, Samragh, Javaheripi, Koushanfar and Javidi, "Trojan Signatures
/// in DNN Weights", ICCV Workshops 2021: in a backdoored network the final linear layer's weights into the target class
/// are distributed unlike those into the other classes, because a few features that fire only on the trigger must
/// outvote every clean feature. Independent of every other detector: no trigger search, no reference, no candidate.
/// </summary>
/// <remarks>
/// The head is read by what it does, not by its operator names: with the head's input (the penultimate
/// representation, see <see cref="ClassifierEvidence.ResolveLayer"/>) replaced by zero, the model's class scores and
/// their gradients there give the head's bias and weights, so a Gemm, a MatMul plus Add, or a transposed export
/// all read the same. The scores are centred over classes (what a softmax sees), which also makes log-probability
/// outputs read like logits. The probe checks the recovered map against the model's real scores on clean inputs and
/// is inconclusive when the head is not affine. Per class k, s_k = the mean of the largest <c>topShare</c> of its
/// centred weights (at least one); z_k = (s_k − median s) / (1.4826 · MAD s) (the spread floored at a thousandth of the weights' RMS), the robust modified z-score of Iglewicz and
/// Hoaglin (1993), whose usual outlier cut-off 3.5 is the default threshold. Statistic: the largest z; suspected class: its argmax.
/// Assumes a classifier whose last layer is linear in a representation the graph exposes as a [N, D] value, and an
/// implant that runs through dedicated features (all-to-one and source-specific backdoors alike). Blind to backdoors
/// spread over features the clean task also uses, and with ten classes the MAD rests on ten numbers: a clean model
/// whose classes differ in weight scale naturally (one easy class) can stand out. Deterministic: no randomness; the
/// first clean inputs are used only to check the head.
/// </remarks>
public sealed class WeightSignatureProbe : IProbe
{
    /// <summary>Smallest spread of the class scores, as a share of the head weights' RMS.</summary>
    private const double MinimumSpreadShare = 1e-3;

    /// <summary>Clean inputs the recovered head is checked on.</summary>
    private const int CheckInputs = 64;

    /// <summary>Largest relative error of the recovered affine head on clean inputs before the head counts as not affine.</summary>
    private const double AffineTolerance = 1e-3;

    /// <summary>Shares of a class's weights whose mean is reported as a variant beside the configured one.</summary>
    private static readonly double[] ReportedShares = [0, 0.01, 0.05, 0.1, 0.25];

    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "weight-signature",
        "Weight signature of the classifier head",
        "Fields, Samragh, Javaheripi, Koushanfar and Javidi, Trojan Signatures in DNN Weights, ICCV Workshops 2021; robust z: Iglewicz and Hoaglin, How to Detect and Handle Outliers, 1993",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 3.5,
        ThresholdMeaning: "Largest robust z over classes (median and MAD) of the mean of a class's largest head weights (centred over classes); flagged when ≥ threshold (Iglewicz and Hoaglin's outlier cut-off).",
        [
            new ProbeParameter("topShare", ProbeParameterType.Number, "Share of a class's head weights, the largest, whose mean scores the class (0: the single largest).", ProbeParameters.Json(0.1), 0, 1),
            TrojanProbeParameters.Layer,
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => TaskCheck.Guard(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        string layer = evidence.ResolveLayer(parameters.String("layer"));
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        (Tensor weights, double residual) = RecoverHead(evidence, layer, cancellationToken);
        context.Progress.Report(0.9);
        if (!(residual <= AffineTolerance))
        {
            return ProbeOutcome.Inconclusive(string.Create(
                CultureInfo.InvariantCulture,
                $"The classifier head after '{layer}' is not affine (the best affine map misses its scores by {residual:G3} relative): this probe reads a linear last layer only."));
        }

        double[][] rows = Enumerable.Range(0, evidence.Classes).Select(k => weights[k].cpu().data<float>().ToArray().Select(v => (double)v).ToArray()).ToArray();
        double share = parameters.Double("topShare");
        (double[] z, double[] scores) = RobustZ(rows, share);
        int suspected = IndexOfLargest(z);
        double statistic = z[suspected];
        var variants = new JsonArray();
        foreach (double reported in ReportedShares)
        {
            (double[] vz, _) = RobustZ(rows, reported);
            (double[] lowZ, _) = RobustZ(rows.Select(r => r.Select(v => -v).ToArray()).ToArray(), reported);
            variants.Add(new JsonObject
            {
                ["topShare"] = reported,
                ["largestZ"] = Math.Round(vz.Max(), 4),
                ["class"] = IndexOfLargest(vz),
                ["lowestWeightsLargestZ"] = Math.Round(lowZ.Max(), 4),
                ["lowestWeightsClass"] = IndexOfLargest(lowZ),
                ["robustZ"] = new JsonArray(vz.Select(v => (JsonNode)Math.Round(v, 4)).ToArray()),
            });
        }

        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["signatureIndex"] = statistic,
            ["suspectedTargetClass"] = suspected,
            ["topShare"] = share,
            ["weightsPerClass"] = rows[0].Length,
            ["layer"] = layer,
            ["headResidual"] = residual,
            ["classScores"] = new JsonArray(scores.Select(v => (JsonNode)Math.Round(v, 6)).ToArray()),
            ["robustZ"] = new JsonArray(z.Select(v => (JsonNode)Math.Round(v, 4)).ToArray()),
            ["variants"] = variants,
            ["device"] = evidence.Model.Device.Name,
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
        };
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"The head's weights into class {suspected} stand out from the other classes' (robust z {statistic:F2} ≥ {context.Threshold:F2}): the weight signature of a backdoor's target.")
            : string.Create(CultureInfo.InvariantCulture, $"No class's head weights stand out (largest robust z {statistic:F2}, class {suspected}, < {context.Threshold:F2}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, []);
    }

    /// <summary>
    /// The head as an affine map from <paramref name="layer"/> to class scores centred over classes: its bias (the scores
    /// with the layer replaced by zero), its weights [C, D] (their gradients there, one backward pass per class, so the
    /// cost does not grow with the layer's width), and the map's relative error on the first clean inputs.
    /// </summary>
    private static (Tensor Weights, double Residual) RecoverHead(ClassifierEvidence evidence, string layer, CancellationToken cancellationToken)
    {
        string inputName = evidence.Model.Inputs[0].Name, outputName = evidence.Model.Outputs[0].Name;
        Tensor clean = evidence.Inputs[..Math.Min(CheckInputs, evidence.Count)];
        IReadOnlyDictionary<string, Tensor> seen = evidence.Model.Run(new Dictionary<string, Tensor> { [inputName] = clean }, [layer]);
        Tensor representation = seen[layer];
        Tensor actual = Centred(seen[outputName]);

        Tensor bias, weights;
        using (torch.enable_grad())
        {
            Tensor zero = torch.zeros(1, representation.shape[1], dtype: representation.dtype, device: representation.device).requires_grad_(true);
            Tensor scores = Centred(evidence.Model.Run(
                new Dictionary<string, Tensor> { [inputName] = clean[..1] },
                replace: new Dictionary<string, Tensor> { [layer] = zero })[outputName])[0];
            bias = scores.detach();
            var rows = new Tensor[scores.shape[0]];
            for (int k = 0; k < rows.Length; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                rows[k] = torch.autograd.grad([scores[k]], [zero], retain_graph: k < rows.Length - 1)[0][0];
            }

            weights = torch.stack(rows).detach();
        }

        Tensor predicted = representation.matmul(weights.t()).Add(bias);
        double residual = (predicted - actual).norm().item<float>() / Math.Max(actual.norm().item<float>(), 1e-12);
        return (weights.MoveToOuterDisposeScope(), residual);
    }

    private static Tensor Centred(Tensor scores)
    {
        Tensor flat = scores.flatten(1).to(ScalarType.Float32);
        return flat - flat.mean([1L], keepdim: true);
    }

    /// <summary>Per class, the mean of its largest <paramref name="share"/> of weights, and their robust z over classes.</summary>
    private static (double[] Z, double[] Scores) RobustZ(double[][] rows, double share)
    {
        double[] scores = rows.Select(row =>
        {
            int take = Math.Max(1, (int)Math.Round(share * row.Length));
            return row.OrderByDescending(v => v).Take(take).Average();
        }).ToArray();
        // Floored at a thousandth of the weights' RMS: classes whose scores agree to float rounding must not divide
        // rounding by rounding.
        double rms = Math.Sqrt(rows.SelectMany(r => r).Average(v => v * v));
        (double median, double spread) = SampleStatistics.RobustCentreAndSpread(scores, Math.Max(MinimumSpreadShare * rms, 1e-12));
        return (scores.Select(s => (s - median) / spread).ToArray(), scores);
    }

    /// <summary>The index of the largest value (the first, on ties).</summary>
    private static int IndexOfLargest(double[] values) => Array.IndexOf(values, values.Max());
}
