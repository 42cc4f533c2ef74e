using System.Globalization;

namespace Audit.Domain.Statistics;

/// <summary>
/// Whether a classifier's accuracy on labelled evidence shows that it does its task at all: a one-sided exact
/// binomial test of <paramref name="Correct"/> right answers of <paramref name="Inputs"/> against
/// <paramref name="Chance"/>, the accuracy a model answering the evidence's most common class every time would score.
/// </summary>
/// <remarks>
/// The tail P(X ≥ k), X ~ Binomial(n, c), is the chance that a model no better than a constant answer scores as well
/// as this one did; at most <paramref name="Alpha"/> shows the model above chance. A model at chance escapes the test
/// (is called above chance) with probability at most α.
/// </remarks>
/// <param name="Inputs">Labelled evidence inputs, n.</param>
/// <param name="Correct">Inputs the model classified as labelled, k.</param>
/// <param name="Chance">The largest class's share of the labels, c.</param>
/// <param name="TailProbability">P(X ≥ k) for X ~ Binomial(n, c).</param>
/// <param name="Alpha">The largest tail that still shows the model above chance.</param>
/// <param name="Level">
/// The accuracy the right answers are tested against: <paramref name="Chance"/> for the plain test, max(chance, ½) for
/// a trojan probe's task check (<see cref="OfTask(int, int, double, double)"/>).
/// </param>
public sealed record ChanceLevelTest(int Inputs, int Correct, double Chance, double TailProbability, double Alpha, double Level)
{
    /// <summary>
    /// The share of right answers a model must be shown to exceed before a trojan probe reads it, whatever its class
    /// count: one half, where right answers start to outnumber wrong ones. Not chosen from any model (docs/probes.md,
    /// "Models wrong on most of their evidence").
    /// </summary>
    public const double MostAnswersRight = 0.5;

    /// <summary>α for the trojan verdict's check: a model at chance escapes it at most once in a thousand.</summary>
    public const double DefaultAlpha = 0.001;

    /// <summary>The share of inputs classified as labelled.</summary>
    public double Accuracy => Inputs == 0 ? 0 : Correct / (double)Inputs;

    /// <summary>True when the accuracy is shown to be above <see cref="Level"/> at <see cref="Alpha"/>.</summary>
    public bool AboveLevel => TailProbability <= Alpha;

    /// <summary>Whether the level tested against is the one-half floor rather than chance.</summary>
    public bool TestedAgainstHalf => Level > Chance;

    /// <summary>P(X ≥ k) for X ~ Binomial(n, chance): the tail against chance, whatever <see cref="Level"/> is.</summary>
    public double ChanceTailProbability { get; init; } = TailProbability;

    /// <summary>True when the accuracy is shown to be above chance at <see cref="Alpha"/>, whatever <see cref="Level"/> is.</summary>
    public bool AboveChance => ChanceTailProbability <= Alpha;

    /// <summary>The test of <paramref name="correct"/> of the inputs labelled <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">No labels, or <paramref name="correct"/> outside [0, labels].</exception>
    public static ChanceLevelTest Of(IReadOnlyCollection<long> labels, int correct, double alpha = DefaultAlpha)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count == 0)
        {
            throw new ArgumentException("The test needs labelled inputs.", nameof(labels));
        }

        return Of(labels.Count, correct, MajorityShare(labels), alpha);
    }

    /// <summary>The test of <paramref name="correct"/> of <paramref name="inputs"/> against <paramref name="chance"/>.</summary>
    public static ChanceLevelTest Of(int inputs, int correct, double chance, double alpha = DefaultAlpha)
    {
        if (inputs <= 0 || correct < 0 || correct > inputs)
        {
            throw new ArgumentException($"{correct} correct of {inputs} inputs is not a count of right answers.", nameof(correct));
        }

        if (!(chance >= 0 && chance <= 1) || !(alpha > 0 && alpha < 1))
        {
            throw new ArgumentOutOfRangeException(nameof(chance), string.Create(CultureInfo.InvariantCulture, $"chance {chance} must lie in [0, 1] and alpha {alpha} in (0, 1)."));
        }

        return new ChanceLevelTest(inputs, correct, chance, BinomialUpperTail(inputs, correct, chance), alpha, chance);
    }

    /// <summary>
    /// A trojan probe's task check: <paramref name="correct"/> of <paramref name="inputs"/> tested against
    /// max(<paramref name="chance"/>, <see cref="MostAnswersRight"/>), so that a model is read only when it is shown to
    /// be above chance and right on more than half of its evidence.
    /// </summary>
    public static ChanceLevelTest OfTask(int inputs, int correct, double chance, double alpha = DefaultAlpha) =>
        AgainstHalfAtLeast(Of(inputs, correct, chance, alpha));

    /// <summary>As <see cref="OfTask(int, int, double, double)"/> for the inputs labelled <paramref name="labels"/>.</summary>
    /// <exception cref="ArgumentException">No labels, or <paramref name="correct"/> outside [0, labels].</exception>
    public static ChanceLevelTest OfTask(IReadOnlyCollection<long> labels, int correct, double alpha = DefaultAlpha) =>
        AgainstHalfAtLeast(Of(labels, correct, alpha));

    /// <summary>The chance test raised to <see cref="MostAnswersRight"/> where chance lies below it (its chance tail kept).</summary>
    private static ChanceLevelTest AgainstHalfAtLeast(ChanceLevelTest againstChance) =>
        againstChance.Chance >= MostAnswersRight
            ? againstChance
            : againstChance with { Level = MostAnswersRight, TailProbability = BinomialUpperTail(againstChance.Inputs, againstChance.Correct, MostAnswersRight) };

    /// <summary>The largest class's share among <paramref name="labels"/>: the accuracy of always answering that class.</summary>
    public static double MajorityShare(IReadOnlyCollection<long> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return labels.Count == 0 ? 0 : labels.GroupBy(l => l).Max(g => g.Count()) / (double)labels.Count;
    }

    /// <summary>
    /// P(X ≥ <paramref name="k"/>) for X ~ Binomial(<paramref name="n"/>, <paramref name="p"/>), exact up to rounding:
    /// the terms are summed from the starting term outwards, on the side of the mode where they shrink, so that no
    /// term under- or overflows before it is scaled (above the mean the upper tail itself; at or below it, one minus
    /// the lower tail).
    /// </summary>
    public static double BinomialUpperTail(int n, int k, double p)
    {
        if (k <= 0)
        {
            return 1;
        }

        if (k > n)
        {
            return 0;
        }

        if (p <= 0)
        {
            return 0;
        }

        if (p >= 1)
        {
            return 1;
        }

        double odds = p / (1 - p);
        if (k > n * p)
        {
            // Terms j = k, k + 1, …, n shrink: pmf(j + 1) / pmf(j) = (n − j) / (j + 1) · odds < 1 for j ≥ k > np.
            double sum = 0, term = 1;
            for (int j = k; j <= n && term > sum * 1e-17; j++)
            {
                sum += term;
                term *= (n - j) / (j + 1.0) * odds;
            }

            return Math.Min(1, Math.Exp(LogProbability(n, k, p)) * sum);
        }

        // Terms j = k − 1, k − 2, …, 0 shrink going down (k − 1 < np): pmf(j − 1) / pmf(j) = j / (n − j + 1) / odds.
        double lower = 0, down = 1;
        for (int j = k - 1; j >= 0 && down > lower * 1e-17; j--)
        {
            lower += down;
            down *= j / (n - j + 1.0) / odds;
        }

        return Math.Max(0, 1 - (Math.Exp(LogProbability(n, k - 1, p)) * lower));
    }

    /// <summary>log P(X = k), with log C(n, k) summed term by term (no gamma function in the base library).</summary>
    private static double LogProbability(int n, int k, double p)
    {
        int smaller = Math.Min(k, n - k);
        double logChoose = 0;
        for (int i = 1; i <= smaller; i++)
        {
            logChoose += Math.Log((n - smaller + i) / (double)i);
        }

        return logChoose + (k * Math.Log(p)) + ((n - k) * Math.Log(1 - p));
    }
}
