using Audit.Domain.Statistics;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Deception;

/// <summary>Statistics the deception probes share beyond <see cref="SampleStatistics"/>: a permutation test, logistic regression.</summary>
internal static class DeceptionStatistics
{
    /// <summary>
    /// One-sided permutation test that <paramref name="treated"/> has a larger mean than <paramref name="control"/>:
    /// group labels are shuffled <paramref name="permutations"/> times; p = (1 + #{shuffled ≥ observed}) / (1 + permutations).
    /// </summary>
    public static double PermutationPValue(IReadOnlyList<double> treated, IReadOnlyList<double> control, int permutations, int seed, CancellationToken cancellationToken)
    {
        double[] pooled = [.. treated, .. control];
        double observed = treated.Average() - control.Average();
        var random = new Random(seed);
        int atLeast = 0;
        for (int p = 0; p < permutations; p++)
        {
            if (p % 256 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            random.Shuffle(pooled);
            double treatedSum = 0;
            for (int i = 0; i < treated.Count; i++)
            {
                treatedSum += pooled[i];
            }

            double difference = (treatedSum / treated.Count) - ((pooled.Sum() - treatedSum) / control.Count);
            if (difference >= observed - 1e-12)
            {
                atLeast++;
            }
        }

        return SampleStatistics.PermutationPValue(atLeast, permutations);
    }

    /// <summary>P(X ≥ <paramref name="k"/>) for X ~ Binomial(<paramref name="n"/>, <paramref name="p"/>), summed in log space.</summary>
    public static double BinomialUpperTail(int k, int n, double p)
    {
        if (k <= 0)
        {
            return 1;
        }

        if (k > n)
        {
            return 0;
        }

        double logP = Math.Log(p), logQ = Math.Log(1 - p), tail = 0, logChoose = 0;
        for (int i = 0; i <= n; i++)
        {
            if (i > 0)
            {
                logChoose += Math.Log(n - i + 1) - Math.Log(i);
            }

            if (i >= k)
            {
                tail += Math.Exp(logChoose + (i * logP) + ((n - i) * logQ));
            }
        }

        return Math.Min(1, tail);
    }

    /// <summary>
    /// L2-regularised logistic regression on standardised features, fitted by full-batch Adam on the features' device.
    /// Returns a scorer giving P(positive) for new rows. Deterministic: zero initialisation, no sampling.
    /// </summary>
    public static LogisticModel FitLogistic(Tensor features, Tensor labels, double l2, int epochs, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        Tensor mean = features.mean([0], keepdim: true);
        Tensor std = features.std(0, keepdim: true, unbiased: false).Add(1e-6f);
        Tensor x = (features - mean) / std;
        Tensor y = labels.to_type(ScalarType.Float32);
        var weight = new TorchSharp.Modules.Parameter(torch.zeros(features.shape[1], 1, device: features.device));
        var bias = new TorchSharp.Modules.Parameter(torch.zeros(1, device: features.device));
        using var optimizer = new HeldScalarAdam([weight, bias], 0.05);
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            if (epoch % 50 == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            using var step = torch.NewDisposeScope();
            optimizer.zero_grad();
            Tensor logits = torch.matmul(x, weight).squeeze(1).Add(bias);
            Tensor loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y).Add(weight.Pow(2).sum().Mul((float)l2));
            loss.backward();
            optimizer.step();
        }

        return new LogisticModel(
            mean.detach().MoveToOuterDisposeScope(),
            std.detach().MoveToOuterDisposeScope(),
            weight.detach().MoveToOuterDisposeScope(),
            bias.detach().MoveToOuterDisposeScope());
    }
}

/// <summary>A fitted logistic-regression probe; owns its tensors.</summary>
internal sealed class LogisticModel(Tensor mean, Tensor std, Tensor weight, Tensor bias) : IDisposable
{
    /// <summary>P(positive) per row, <c>[N]</c>.</summary>
    public Tensor Predict(Tensor features) => torch.sigmoid(torch.matmul((features - mean) / std, weight).squeeze(1).Add(bias));

    public void Dispose()
    {
        mean.Dispose();
        std.Dispose();
        weight.Dispose();
        bias.Dispose();
    }
}
