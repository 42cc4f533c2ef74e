using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes;

/// <summary>
/// Accuracy under bounded random input noise: Gaussian noise whose deviation is a fraction of the valid input
/// range, clamped to that range, in the manner of the noise corruptions of Hendrycks and Dietterich,
/// "Benchmarking Neural Network Robustness to Common Corruptions and Perturbations", ICLR 2019.
/// </summary>
/// <remarks>
/// The statistic is the accuracy drop (clean minus perturbed, averaged over trials); flagged when the drop reaches
/// the threshold (default 0.05, five points). Assumes the dataset is representative of deployment inputs and that
/// the valid range is [min, max] of the dataset unless <c>inputBounds</c> says otherwise. Random noise is a weak
/// adversary: passing says nothing about worst-case (adversarial) robustness.
/// </remarks>
public sealed class PerturbationRobustnessProbe : IProbe
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "perturbation-robustness",
        "Accuracy under bounded random perturbation",
        "Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and Perturbations, ICLR 2019",
        ModelKinds.Classifier,
        EvidenceKind.LabelledInputs,
        DefaultThreshold: 0.05,
        ThresholdMeaning: "Accuracy drop (clean − perturbed) under Gaussian noise; flagged when the drop reaches the threshold.",
        [
            new ProbeParameter("noiseFraction", ProbeParameterType.Number, "Noise deviation as a fraction of the valid input range.", ProbeParameters.Json(0.05), 0.001, 0.5),
            new ProbeParameter("trials", ProbeParameterType.Integer, "Independent noise draws averaged.", ProbeParameters.Json(3), 1, 20),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        if (evidence.Dataset.Labels is null)
        {
            throw new DatasetRejectedException("The robustness probe needs 'labels' (int64 [N]) in the dataset.");
        }

        double fraction = parameters.Double("noiseFraction");
        int trials = parameters.Int("trials");
        double clean;
        var perturbed = new double[trials];
        using (var scope = torch.NewDisposeScope())
        {
            Tensor labels = context.Evidence.Labels();
            clean = evidence.Predict(evidence.Inputs, cancellationToken).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
            using var generator = new Generator((ulong)context.Seed, evidence.Device);
            float sigma = (float)(fraction * (evidence.High - evidence.Low));
            for (int trial = 0; trial < trials; trial++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Tensor noise = torch.randn(evidence.Inputs.shape, generator: generator, device: evidence.Device).Mul(sigma);
                Tensor noisy = evidence.Inputs.Add(noise).Clamp(evidence.Low, evidence.High);
                perturbed[trial] = evidence.Predict(noisy, cancellationToken).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
                context.Progress.Report((trial + 1.0) / trials);
            }
        }

        double noisyAccuracy = perturbed.Average();
        double drop = clean - noisyAccuracy;
        double score = Math.Max(0, drop) / context.Threshold;
        bool flagged = score >= 1;
        var details = new JsonObject
        {
            ["statistic"] = drop,
            ["threshold"] = context.Threshold,
            ["cleanAccuracy"] = clean,
            ["perturbedAccuracy"] = noisyAccuracy,
            ["perturbedAccuracyPerTrial"] = new JsonArray(perturbed.Select(p => (JsonNode)p).ToArray()),
            ["noiseDeviation"] = fraction * (evidence.High - evidence.Low),
            ["inputBounds"] = new JsonArray(evidence.Low, evidence.High),
            ["n"] = evidence.Count,
            ["device"] = evidence.Model.Device.Name,
        };
        // The noise is drawn per channel on the channel's own range where the evidence's channels have their own.
        ModelReadingRecord.AddTo(details, context, cancellationToken);
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"Accuracy fell from {clean:P1} to {noisyAccuracy:P1} under Gaussian noise of {fraction:P0} of the input range ({trials} trials, {evidence.Count} inputs): a drop of {drop * 100:F1} points, {(flagged ? "at or above" : "below")} the {context.Threshold * 100:F1}-point threshold.");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, []);
    }
}
