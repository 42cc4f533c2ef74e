using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Maximum achievable classification margin per class, after Wang, Miller and Kesidis, <i>MM-BD: Post-Training Detection
/// of Backdoor Attacks with Arbitrary Backdoor Pattern Types Using a Maximum Margin Statistic</i>, IEEE S&amp;P 2024. For
/// each class c, inputs anywhere in the input domain are optimised to maximise logit_c − max_{j≠c} logit_j; a backdoor
/// gives its target a shortcut that a trigger of any shape (patch, blend, warp; whichever source it was implanted on)
/// drives far beyond what natural features reach, so the target's maximum margin is an outlier among the classes'.
/// Needs no clean input beyond the evidence's shape and bounds, no trigger shape, no reference and no candidate.
/// </summary>
/// <remarks>
/// The null, as in the paper: the classes' maximum margins other than the largest are taken as draws from a gamma
/// distribution (fitted by moments), and the largest of K such draws exceeds the observed largest with probability
/// p = 1 − F(m_max)^K. Statistic: −log10 p; flagged at p ≤ 0.05. Assumptions: at least three classes with a positive
/// maximum margin (a margin that cannot be made positive is floored, as a class the model never predicts); the margins of
/// a clean model's classes are alike enough for nine or more of them to describe the tenth.
/// </remarks>
public sealed class MaxMarginProbe : IProbe
{
    /// <inheritdoc />
    public ProbeDescriptor Descriptor { get; } = new(
        "max-margin",
        "Maximum achievable margin per class (MM-BD)",
        "Wang, Miller and Kesidis, MM-BD: Post-Training Detection of Backdoor Attacks with Arbitrary Backdoor Pattern Types Using a Maximum Margin Statistic, IEEE S&P 2024",
        ModelKinds.Classifier,
        EvidenceKind.Inputs,
        DefaultThreshold: 1.3010299956639813, // −log10 0.05
        ThresholdMeaning: "−log10 of the order-statistic p-value of the largest class's maximum margin under a gamma null fitted to the other classes' (flagged when ≥ threshold; 1.30 is p ≤ 0.05).",
        [
            new ProbeParameter("steps", ProbeParameterType.Integer, "Adam steps of the margin ascent (all classes and starts at once).", ProbeParameters.Json(200), 1, 5000),
            new ProbeParameter("starts", ProbeParameterType.Integer, "Random starts per class; a class's maximum margin is the largest reached.", ProbeParameters.Json(8), 1, 256),
            TrojanProbeParameters.InputBounds,
        ]);

    /// <inheritdoc />
    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) =>
        Task.Run(() => Run(context, cancellationToken), cancellationToken);

    private ProbeOutcome Run(ProbeContext context, CancellationToken cancellationToken)
    {
        var parameters = new ProbeParameters(context, Descriptor);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, parameters.Numbers("inputBounds"), cancellationToken);
        int steps = parameters.Int("steps"), starts = parameters.Int("starts");
        if (evidence.Classes < 3)
        {
            return ProbeOutcome.Inconclusive("The margin null needs at least three classes.");
        }

        double[] margins = Ascend(evidence, steps, starts, context.Seed, context.Progress, cancellationToken);
        double[] natural = NaturalMargins(evidence, cancellationToken);
        int top = Array.IndexOf(margins, margins.Max());
        // A class whose margin cannot be made positive never wins; floored so the gamma null stays defined.
        double[] positive = [.. margins.Select(m => Math.Max(m, 1e-3))];
        double[] others = [.. positive.Where((_, k) => k != top)];
        double mean = others.Average();
        double variance = others.Sum(m => (m - mean) * (m - mean)) / (others.Length - 1);
        double shape = mean * mean / Math.Max(variance, 1e-12), scale = Math.Max(variance, 1e-12) / mean;
        double cdf = IncompleteGamma.RegularizedLower(shape, positive[top] / scale);
        double p = Math.Max(1 - Math.Pow(cdf, margins.Length), 1e-300);
        double statistic = -Math.Log10(p);
        double median = SampleStatistics.Median(positive);
        double mad = 1.4826 * SampleStatistics.MedianAbsoluteDeviation(positive);
        double threshold = context.Threshold;
        bool flagged = statistic >= threshold;
        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = threshold,
            ["pValue"] = p,
            ["suspectedTargetClass"] = top,
            ["maximumMargins"] = new JsonArray(margins.Select(m => (JsonNode)Math.Round(m, 4)).ToArray()),
            ["gammaShape"] = shape,
            ["gammaScale"] = scale,
            ["logRatioToMedian"] = Math.Log(positive[top] / median),
            ["robustZ"] = (positive[top] - median) / Math.Max(mad, 1e-9),
            ["naturalMargins"] = new JsonArray(natural.Select(m => (JsonNode)Math.Round(m, 4)).ToArray()),
            ["steps"] = steps,
            ["starts"] = starts,
            ["inputBounds"] = new JsonArray(evidence.Low, evidence.High),
            ["device"] = evidence.Model.Device.Name,
            ["reproducibility"] = TrojanProbeParameters.Reproducibility(context.Seed),
        };
        string summary = flagged
            ? string.Create(CultureInfo.InvariantCulture, $"Class {top} can be given a margin of {margins[top]:F1} logits over every other class, beyond what the other classes' margins predict (p = {p:G2} under a gamma null, −log10 p {statistic:F2} ≥ {threshold:F2}): the shape of a backdoor's shortcut to that class.")
            : string.Create(CultureInfo.InvariantCulture, $"No class's maximum margin stands out (largest: class {top}, {margins[top]:F1} logits; p = {p:G2} under a gamma null fitted to the others, −log10 p {statistic:F2} < {threshold:F2}).");
        return new ProbeOutcome(flagged ? Verdict.Fail : Verdict.Pass, statistic / threshold, summary, details, []);
    }

    /// <summary>Per class, the 90th percentile of the margin over the clean inputs the model assigns to it (NaN without any).</summary>
    private static double[] NaturalMargins(ClassifierEvidence evidence, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor logits = evidence.Batched(evidence.Count, (first, size) => evidence.Model.Forward(evidence.Inputs.narrow(0, first, size)).flatten(1), cancellationToken);
        Tensor top2 = logits.topk(2, 1).values;
        float[] margin = top2.select(1, 0).sub(top2.select(1, 1)).cpu().data<float>().ToArray();
        long[] predicted = logits.argmax(1).cpu().data<long>().ToArray();
        return [.. Enumerable.Range(0, evidence.Classes).Select(c =>
        {
            double[] mine = [.. margin.Where((_, i) => predicted[i] == c).Select(v => (double)v)];
            return mine.Length == 0 ? double.NaN : SampleStatistics.Quantile(mine, 0.9);
        })];
    }

    /// <summary>Per class, the largest margin reached from <paramref name="starts"/> uniform random inputs by Adam on a sigmoid-bounded input.</summary>
    private static double[] Ascend(ClassifierEvidence evidence, int steps, int starts, int seed, IProgress<double> progress, CancellationToken cancellationToken)
    {
        using IntraOpThreads pinned = IntraOpThreads.Pin(TrojanProbeParameters.ScanThreads, torch.get_num_threads());
        using var scope = torch.NewDisposeScope();
        int classes = evidence.Classes;
        long[] inputShape = [.. evidence.Inputs.shape.Skip(1)];
        float span = evidence.High - evidence.Low;
        using var generator = new torch.Generator((ulong)seed * 131 + 7);
        // Uniform starts over the input domain: a sigmoid's logit of a uniform draw.
        Tensor uniform = torch.rand([classes * starts, .. inputShape], generator: generator).Clamp(1e-4, 1 - 1e-4);
        Tensor start = uniform.div(uniform.SubtractedFrom(1.0)).log().to(evidence.Device);
        using var raw = new TorchSharp.Modules.Parameter(start, requires_grad: true);
        using var optimizer = new HeldScalarAdam([raw], 0.1);
        Tensor targets = HeldScalars.Arange(classes, device: evidence.Device).repeat_interleave(starts);
        Tensor own = nn.functional.one_hot(targets, classes).to_type(ScalarType.Bool);

        Tensor Margins()
        {
            Tensor x = raw.sigmoid().Mul(span).Add(evidence.Low);
            Tensor logits = evidence.Model.Forward(x).flatten(1);
            Tensor mine = logits.gather(1, targets.unsqueeze(1)).squeeze(1);
            Tensor rival = logits.MaskedFill(own, double.NegativeInfinity).amax([1]);
            return mine.sub(rival);
        }

        for (int step = 0; step < steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var stepScope = torch.NewDisposeScope();
            optimizer.zero_grad();
            Margins().sum().neg().backward();
            optimizer.step();
            progress.Report((step + 1) / (steps + 1.0));
        }

        using var noGrad = torch.no_grad();
        float[] reached = Margins().view(classes, starts).amax([1]).cpu().data<float>().ToArray();
        return [.. reached.Select(v => (double)v)];
    }
}

/// <summary>The regularised lower incomplete gamma function P(a, x), for the gamma null's distribution function.</summary>
internal static class IncompleteGamma
{
    /// <summary>P(a, x) = γ(a, x) / Γ(a): by its power series below x = a + 1 and by its continued fraction above (Abramowitz and Stegun 6.5.29, 6.5.31).</summary>
    public static double RegularizedLower(double a, double x)
    {
        if (x <= 0)
        {
            return 0;
        }

        double logPrefactor = a * Math.Log(x) - x - LogGamma(a);
        if (x < a + 1)
        {
            double term = 1 / a, sum = term;
            for (int n = 1; n < 1000 && Math.Abs(term) > Math.Abs(sum) * 1e-15; n++)
            {
                term *= x / (a + n);
                sum += term;
            }

            return Math.Min(1, sum * Math.Exp(logPrefactor));
        }

        // Continued fraction for Q(a, x) by the modified Lentz method.
        const double Tiny = 1e-300;
        double b = x + 1 - a, c = 1 / Tiny, d = 1 / b, h = d;
        for (int n = 1; n < 1000; n++)
        {
            double an = -n * (n - a);
            b += 2;
            d = an * d + b;
            d = Math.Abs(d) < Tiny ? Tiny : d;
            c = b + an / c;
            c = Math.Abs(c) < Tiny ? Tiny : c;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-15)
            {
                break;
            }
        }

        return Math.Max(0, 1 - Math.Exp(logPrefactor) * h);
    }

    /// <summary>ln Γ(a) for a &gt; 0 by the Lanczos approximation (g = 7, nine coefficients).</summary>
    public static double LogGamma(double a)
    {
        if (a < 0.5)
        {
            return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * a))) - LogGamma(1 - a);
        }

        ReadOnlySpan<double> coefficients = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        double z = a - 1, sum = coefficients[0];
        for (int i = 1; i < coefficients.Length; i++)
        {
            sum += coefficients[i] / (z + i);
        }

        double t = z + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (z + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
