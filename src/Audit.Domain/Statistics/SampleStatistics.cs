namespace Audit.Domain.Statistics;

/// <summary>
/// The sample statistics probes and reports share, each with one stated definition, so a figure means the same
/// thing wherever it appears. Pure functions of their arguments; no tensors.
/// </summary>
public static class SampleStatistics
{
    /// <summary>Two-sided 95% standard normal quantile, z₀.₉₇₅.</summary>
    public const double Z95 = 1.959963984540054;

    /// <summary>1.4826 ≈ 1 / Φ⁻¹(0.75): times the MAD, a consistent estimate of a normal standard deviation.</summary>
    public const double NormalConsistency = 1.4826;

    /// <summary>
    /// The <paramref name="q"/>-quantile by linear interpolation between order statistics (Hyndman &amp; Fan's type 7,
    /// the default of R and NumPy): with the values sorted as x₀ ≤ … ≤ xₙ₋₁ and h = q·(n − 1),
    /// Q(q) = x⌊h⌋ + (h − ⌊h⌋)·(x⌈h⌉ − x⌊h⌋). NaN for no values.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="q"/> is outside [0, 1].</exception>
    public static double Quantile(IEnumerable<double> values, double q)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (!(q >= 0 && q <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(q), q, "A quantile's level lies in [0, 1].");
        }

        double[] sorted = [.. values];
        Array.Sort(sorted);
        return SortedQuantile(sorted, q);
    }

    /// <summary>
    /// The median: the middle value, or the mean of the two middle values (the type-7 0.5-quantile, computed as
    /// (a + b) / 2 so that it is exact to the last bit for symmetric pairs). NaN for no values.
    /// </summary>
    public static double Median(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] sorted = [.. values];
        Array.Sort(sorted);
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>
    /// Raw median absolute deviation, median(|xᵢ − median(x)|), without the 1.4826 consistency factor (callers that
    /// estimate a normal standard deviation multiply by it themselves).
    /// </summary>
    public static double MedianAbsoluteDeviation(IEnumerable<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] all = [.. values];
        double median = Median(all);
        return Median(all.Select(v => Math.Abs(v - median)));
    }

    /// <summary>
    /// Centre and spread for robust z-scores (Iglewicz and Hoaglin's modified z, 1993): the median and 1.4826 · MAD (a
    /// normal standard deviation's estimate), the spread never below <paramref name="minimumSpread"/> so that values
    /// agreeing closer than the data can resolve are not divided by their own rounding. z = (x − Centre) / Spread.
    /// </summary>
    public static (double Centre, double Spread) RobustCentreAndSpread(IEnumerable<double> values, double minimumSpread)
    {
        ArgumentNullException.ThrowIfNull(values);
        double[] all = [.. values];
        return (Median(all), Math.Max(NormalConsistency * MedianAbsoluteDeviation(all), minimumSpread));
    }

    /// <summary>
    /// Area under the ROC curve of <paramref name="scores"/> for the positives: the Mann–Whitney U statistic over
    /// n₊·n₋, i.e. P(score of a positive &gt; score of a negative) with ties counting one half (mid-ranks).
    /// NaN when either class is empty.
    /// </summary>
    /// <exception cref="ArgumentException">The two lists differ in length.</exception>
    public static double Auroc(IReadOnlyList<double> scores, IReadOnlyList<bool> positive)
    {
        ArgumentNullException.ThrowIfNull(scores);
        ArgumentNullException.ThrowIfNull(positive);
        if (scores.Count != positive.Count)
        {
            throw new ArgumentException("Every score needs a label.", nameof(positive));
        }

        int nPositive = positive.Count(p => p);
        int nNegative = positive.Count - nPositive;
        if (nPositive == 0 || nNegative == 0)
        {
            return double.NaN;
        }

        int[] order = Enumerable.Range(0, scores.Count).OrderBy(i => scores[i]).ToArray();
        double rankSum = 0;
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && scores[order[j + 1]] == scores[order[i]])
            {
                j++;
            }

            // Tied scores share the mean of the ranks they span (ranks are 1-based).
            double averageRank = ((i + j) / 2.0) + 1;
            for (int k = i; k <= j; k++)
            {
                if (positive[order[k]])
                {
                    rankSum += averageRank;
                }
            }

            i = j + 1;
        }

        return (rankSum - (nPositive * (nPositive + 1) / 2.0)) / ((double)nPositive * nNegative);
    }

    /// <summary>
    /// Monte Carlo permutation p-value, (k + 1) / (n + 1), where <paramref name="atLeastAsExtreme"/> (k) of
    /// <paramref name="permutations"/> (n) shuffles gave a statistic at least as extreme as the observed one.
    /// Counting the observed arrangement keeps the test valid and the p-value above zero (Phipson &amp; Smyth, 2010).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">k is negative or above n.</exception>
    public static double PermutationPValue(int atLeastAsExtreme, int permutations)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(permutations);
        if (atLeastAsExtreme < 0 || atLeastAsExtreme > permutations)
        {
            throw new ArgumentOutOfRangeException(nameof(atLeastAsExtreme), atLeastAsExtreme, "At most every permutation can be as extreme.");
        }

        return (1.0 + atLeastAsExtreme) / (1.0 + permutations);
    }

    /// <summary>
    /// Wilson score interval for a binomial proportion (Wilson, JASA 1927) at the normal quantile <paramref name="z"/>
    /// (default 95%): (p̂ + z²/2n ± z·√(p̂(1 − p̂)/n + z²/4n²)) / (1 + z²/n), clipped to [0, 1]. (0, 1) for no trials.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Successes outside [0, trials].</exception>
    public static (double Low, double High) WilsonInterval(long successes, long trials, double z = Z95)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(trials);
        if (successes < 0 || successes > trials)
        {
            throw new ArgumentOutOfRangeException(nameof(successes), successes, "Successes lie between 0 and the number of trials.");
        }

        if (trials == 0)
        {
            return (0, 1);
        }

        double p = (double)successes / trials;
        double z2 = z * z;
        double denominator = 1 + z2 / trials;
        double centre = (p + z2 / (2 * trials)) / denominator;
        double half = z / denominator * Math.Sqrt(p * (1 - p) / trials + z2 / (4.0 * trials * trials));
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }

    private static double SortedQuantile(double[] sorted, double q)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        double position = q * (sorted.Length - 1);
        int low = (int)Math.Floor(position);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + ((position - low) * (sorted[high] - sorted[low]));
    }
}
