using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Spectral signatures (Tran, Li and Madry, "Spectral Signatures in Backdoor Attacks", NeurIPS 2018): per class,
/// centre the representations and score each input by its squared projection on the top singular vector; poisoned
/// inputs are separated along that direction and get the largest scores.
/// </summary>
/// <remarks>
/// The pool is the clean dataset plus a share stamped with the recovered trigger (see <see cref="RepresentationPool"/>).
/// Statistic: in the class the recovered trigger sends inputs to, the share of trigger-stamped inputs among the top
/// 1.5·ε·n outlier scores — whether the trigger-carrying inputs are what the spectral signature singles out, as the
/// paper shows for real poison. By chance that share is about the stamped share of the class (≈ 0.2–0.3 with the
/// defaults). Per class, the ratio of the top squared singular value to the mean of the next ten is reported too.
/// Score = statistic / threshold. Weak when the trigger's representation is not linearly separated from the class's
/// clean one, and meaningless when the recovered trigger is not the real one.
/// </remarks>
public sealed class SpectralSignatureProbe : IProbe
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "spectral-signatures",
        "Spectral signatures",
        "Tran, Li and Madry, Spectral Signatures in Backdoor Attacks, NeurIPS 2018",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 0.6,
        ThresholdMeaning: "Share of trigger-stamped inputs among the top spectral outliers of the recovered trigger's class; flagged when ≥ threshold.",
        [
            new ProbeParameter("epsilon", ProbeParameterType.Number, "Expected poisoned share ε: the top 1.5·ε·n scores of a class are its outliers.", ProbeParameters.Json(0.05), 0.001, 0.5),
            TrojanProbeParameters.StampedShare,
            TrojanProbeParameters.Layer,
            TriggerTestMode.Parameter,
            .. TrojanProbeParameters.TriggerTest,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => SharedOutcome.OfChecked(context, Descriptor, () => Run(context, cancellationToken), cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        // The session owns the pool (activation clustering and spectral signatures share it).
        RepresentationPool pool = RepresentationPool.Build(parameters, context, evidence, cancellationToken);
        TriggerScan scan = pool.Scan;
        string layer = pool.Layer;

        double epsilon = parameters.Double("epsilon");
        var perClass = new JsonArray();
        double statistic = 0;
        int suspected = pool.SuspectedClass;
        double largestRatio = 0;
        for (int c = 0; c < evidence.Classes; c++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long[] members = pool.IndicesOf(c);
            if (members.Length < 10)
            {
                continue;
            }

            using var scope = torch.NewDisposeScope();
            Tensor representations = pool.Activations.index_select(0, torch.tensor(members).to(evidence.Device));
            Tensor centred = representations - representations.mean([0L], keepdim: true);
            (_, Tensor singular, Tensor vh) = torch.linalg.svd(centred, fullMatrices: false);
            Tensor scores = centred.matmul(vh[0]).Square();
            double[] squares = singular.Square().cpu().data<float>().ToArray().Select(v => (double)v).ToArray();
            double rest = squares.Length > 1 ? squares.Skip(1).Take(10).Average() : 0;
            double ratio = squares[0] / Math.Max(rest, 1e-12);

            int outliers = Math.Max(1, (int)Math.Ceiling(1.5 * epsilon * members.Length));
            long[] top = scores.topk(Math.Min(outliers, members.Length)).indexes.cpu().data<long>().ToArray();
            int stampedAmongOutliers = top.Count(i => pool.Stamped[members[i]]);
            perClass.Add(new JsonObject
            {
                ["class"] = c,
                ["n"] = members.Length,
                ["topSingularRatio"] = Math.Round(ratio, 3),
                ["outliers"] = top.Length,
                ["stampedAmongOutliers"] = stampedAmongOutliers,
                ["stampedInClass"] = members.Count(i => pool.Stamped[i]),
            });
            largestRatio = Math.Max(largestRatio, ratio);
            if (c == suspected)
            {
                statistic = stampedAmongOutliers / (double)top.Length;
            }

            context.Progress.Report(0.8 + 0.2 * (c + 1) / evidence.Classes);
        }

        // The share is reported for any trigger; in candidate mode only a candidate trigger can flag (see TriggerTestMode).
        double share = statistic;
        string mode = TriggerTestMode.Of(parameters);
        bool candidate = TrojanProbeParameters.IsCandidate(parameters, scan);
        bool counts = TriggerTestMode.Counts(mode, parameters, scan);
        statistic = counts ? share : 0;
        double score = statistic / context.Threshold;
        bool flagged = score >= 1;
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["suspectedTargetClass"] = suspected,
            ["mode"] = mode,
            ["candidateTrigger"] = candidate,
            ["candidateAnomalyIndex"] = scan.AnomalyIndex,
            ["stampedShareAmongOutliers"] = share,
            ["layer"] = layer,
            ["epsilon"] = epsilon,
            ["largestTopSingularRatio"] = largestRatio,
            ["stampedInputs"] = pool.StampedCount,
            ["recoveredTriggerClass"] = pool.SuspectedClass,
            ["classes"] = perClass,
            ["device"] = evidence.Model.Device.Name,
        };
        string summary = !counts
            ? TrojanProbeParameters.NoCandidate(scan) + string.Create(CultureInfo.InvariantCulture, $" In class {suspected}, {share:P0} of the top spectral outliers at '{layer}' carry that trigger; not flagged.")
            : TriggerTestMode.Preamble(mode, counts, scan) + (flagged
            ? string.Create(CultureInfo.InvariantCulture, $"In class {suspected}, {statistic:P0} of the top spectral outliers at '{layer}' carry the recovered trigger (≥ {context.Threshold:P0}): the trigger creates a separate sub-population, the spectral signature of a backdoor.")
            : string.Create(CultureInfo.InvariantCulture, $"In class {suspected}, only {statistic:P0} of the top spectral outliers at '{layer}' carry the recovered trigger (< {context.Threshold:P0}): no spectral signature of a backdoor."));
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, score, summary, details, []);
    }
}
