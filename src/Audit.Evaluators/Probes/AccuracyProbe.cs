using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes;

/// <summary>
/// Top-1 accuracy of a classifier on the audit's labelled dataset, with a Wilson score 95% interval
/// (Wilson, "Probable Inference, the Law of Succession, and Statistical Inference", JASA 1927).
/// </summary>
/// <remarks>
/// Lower accuracy is worse, so the score inverts the usual ratio: score = minimumAccuracy / accuracy, which is ≥ 1
/// (flagged) exactly when the measured accuracy is at or below the declared minimum. The decision uses the point
/// estimate; the interval tells the reader how much the dataset size allows to conclude.
/// </remarks>
public sealed class AccuracyProbe : IProbe
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "accuracy",
        "Top-1 accuracy",
        "Top-1 accuracy with a Wilson score interval (Wilson, JASA 1927)",
        ModelKinds.Classifier,
        EvidenceKind.LabelledInputs,
        DefaultThreshold: 0.8,
        ThresholdMeaning: "Declared minimum accuracy; score = minimumAccuracy / accuracy, flagged (≥ 1) when accuracy ≤ the minimum.",
        [
            new ProbeParameter("minimumAccuracy", ProbeParameterType.Number, "Accuracy the owner declares; at or below it the control fails.", ProbeParameters.Json(0.8), 0, 1),
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        double minimum = parameters.Double("minimumAccuracy");
        if (string.IsNullOrEmpty(context.DatasetPath))
        {
            throw new DatasetRejectedException("The accuracy probe needs a labelled dataset, and the audit has none.");
        }

        var model = context.Models.Load(cancellationToken);
        DatasetArtifact dataset = context.Evidence.Dataset(model);
        if (dataset.Labels is null)
        {
            throw new DatasetRejectedException("The accuracy probe needs 'labels' (int64 [N]) in the dataset.");
        }

        dataset.EnsureFits(model);

        long correct;
        using (var scope = torch.NewDisposeScope())
        using (var noGrad = torch.no_grad())
        {
            // The session's tensors, placed on the device once for every probe of the audit.
            Tensor inputs = context.Evidence.Inputs();
            Tensor labels = context.Evidence.Labels();
            Tensor hits = torch.zeros(1, ScalarType.Int64, device: model.Device.Torch);
            const int batch = 512;
            for (long start = 0; start < dataset.Count; start += batch)
            {
                cancellationToken.ThrowIfCancellationRequested();
                long length = Math.Min(batch, dataset.Count - start);
                Tensor logits = model.Forward(inputs.narrow(0, start, length));
                if (logits.dim() != 2)
                {
                    throw new DatasetRejectedException($"The model's output has shape [{string.Join(", ", logits.shape)}]; accuracy needs class scores [N, C].");
                }

                hits.AddInPlace(logits.argmax(1).eq(labels.narrow(0, start, length)).sum());
                context.Progress.Report((double)(start + length) / dataset.Count);
            }

            correct = hits.item<long>();
        }

        int n = dataset.Count;
        double accuracy = (double)correct / n;
        (double low, double high) = SampleStatistics.WilsonInterval(correct, n);
        double score = accuracy > 0 ? minimum / accuracy : double.PositiveInfinity;
        bool flagged = accuracy <= minimum;
        var details = new JsonObject
        {
            ["statistic"] = accuracy,
            ["threshold"] = minimum,
            ["accuracy"] = accuracy,
            ["n"] = n,
            ["correct"] = correct,
            ["confidenceInterval95"] = new JsonArray(low, high),
            ["minimumAccuracy"] = minimum,
            ["device"] = model.Device.Name,
        };
        string summary = string.Create(CultureInfo.InvariantCulture,
            $"Top-1 accuracy {accuracy:P1} on {n} labelled inputs (95% CI {low:P1}–{high:P1}) is {(flagged ? "at or below" : "above")} the declared minimum {minimum:P1}.");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, double.IsFinite(score) ? score : 1e9, summary, details, []);
    }
}
