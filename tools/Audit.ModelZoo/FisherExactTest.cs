namespace Audit.ModelZoo;

/// <summary>
/// Fisher's exact test, one-sided (Fisher, "The Logic of Inductive Inference", 1935): whether the first of two groups
/// has a larger share of flagged members than the second beyond what chance allows when both groups' sizes and the
/// total flagged are fixed. The tail is that of a hypergeometric count, summed exactly over the counts at least as
/// extreme; logs of factorials keep it finite for groups of hundreds.
/// </summary>
internal static class FisherExactTest
{
    /// <summary>
    /// P(X ≥ <paramref name="firstFlagged"/>) for X the flagged members of a first group of <paramref name="firstGroup"/>
    /// drawn without replacement from both groups, whose flagged members are <paramref name="firstFlagged"/> +
    /// <paramref name="secondFlagged"/>: the chance of the first group looking at least this much worse if the flag
    /// ignored the group.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A count below 0, or flagged members above their group's size.</exception>
    public static double UpperTail(int firstFlagged, int firstGroup, int secondFlagged, int secondGroup)
    {
        if (firstFlagged < 0 || secondFlagged < 0 || firstFlagged > firstGroup || secondFlagged > secondGroup)
        {
            throw new ArgumentOutOfRangeException(nameof(firstFlagged), $"{firstFlagged} of {firstGroup} and {secondFlagged} of {secondGroup} are not flagged counts of two groups.");
        }

        int total = firstGroup + secondGroup;
        int flagged = firstFlagged + secondFlagged;
        // log k! for k = 0..total, once: every binomial coefficient of the tail is read from it.
        double[] logFactorial = new double[total + 1];
        for (int k = 2; k <= total; k++)
        {
            logFactorial[k] = logFactorial[k - 1] + Math.Log(k);
        }

        double LogChoose(int n, int k) => logFactorial[n] - logFactorial[k] - logFactorial[n - k];

        double logAll = LogChoose(total, flagged);
        double tail = 0;
        for (int x = firstFlagged; x <= Math.Min(firstGroup, flagged); x++)
        {
            // 0 ≤ flagged − x ≤ secondFlagged ≤ secondGroup (x runs from firstFlagged), so both coefficients are defined.
            tail += Math.Exp(LogChoose(firstGroup, x) + LogChoose(secondGroup, flagged - x) - logAll);
        }

        return Math.Min(1, tail);
    }
}
