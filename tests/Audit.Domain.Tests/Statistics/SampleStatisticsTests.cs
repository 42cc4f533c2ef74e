using Audit.Domain.Statistics;

namespace Audit.Domain.Tests.Statistics;

public sealed class SampleStatisticsTests
{
    // Type 7 by hand on 1..10 (n = 10): h = q·9, e.g. q = 0.25 → h = 2.25 → 3 + 0.25·(4 − 3) = 3.25.
    [Theory]
    [InlineData(0.0, 1.0)]
    [InlineData(0.25, 3.25)]
    [InlineData(0.5, 5.5)]
    [InlineData(0.9, 9.1)]
    [InlineData(1.0, 10.0)]
    public void Quantile_InterpolatesLinearlyBetweenOrderStatistics(double q, double expected)
    {
        double[] values = [7, 3, 10, 1, 5, 2, 9, 4, 8, 6];

        Assert.Equal(expected, SampleStatistics.Quantile(values, q), 12);
    }

    [Fact]
    public void RobustCentreAndSpread_IsTheMedianAndTheScaledMad_NeverBelowTheFloor()
    {
        // Median 3; absolute deviations 2, 1, 0, 1, 7 → MAD 1; spread 1.4826 · 1.
        (double centre, double spread) = SampleStatistics.RobustCentreAndSpread([1, 2, 3, 4, 10], minimumSpread: 0.5);
        Assert.Equal(3, centre);
        Assert.Equal(1.4826, spread, 12);

        // Identical values have MAD 0: the floor is the spread, not zero.
        Assert.Equal((5.0, 0.2), SampleStatistics.RobustCentreAndSpread([5, 5, 5], minimumSpread: 0.2));
    }

    [Fact]
    public void Quantile_OfOneValue_IsThatValue_AndOfNone_IsNaN()
    {
        Assert.Equal(4.5, SampleStatistics.Quantile([4.5], 0.3));
        Assert.True(double.IsNaN(SampleStatistics.Quantile([], 0.5)));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.1)]
    [InlineData(double.NaN)]
    public void Quantile_OutsideTheUnitInterval_IsRejected(double q) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleStatistics.Quantile([1, 2], q));

    [Theory]
    [InlineData(new double[] { 5, 1, 3 }, 3)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 2.5)]
    [InlineData(new double[] { -1, 100 }, 49.5)]
    public void Median_IsTheMiddleValue_OrTheMeanOfTheTwoMiddleValues(double[] values, double expected) =>
        Assert.Equal(expected, SampleStatistics.Median(values), 12);

    [Fact]
    public void MedianAbsoluteDeviation_MatchesAHandComputedExample()
    {
        // Median 2; deviations 1, 1, 0, 0, 2, 4, 7 → sorted 0, 0, 1, 1, 2, 4, 7 → median 1.
        double[] values = [1, 1, 2, 2, 4, 6, 9];

        Assert.Equal(1, SampleStatistics.MedianAbsoluteDeviation(values), 12);
    }

    [Fact]
    public void Auroc_CountsPairsWithTiesAsHalf()
    {
        // Positives {0.9, 0.5}, negatives {0.5, 0.1}: pairs (0.9>0.5) 1, (0.9>0.1) 1, (0.5=0.5) ½, (0.5>0.1) 1 → 3.5 / 4.
        Assert.Equal(0.875, SampleStatistics.Auroc([0.9, 0.5, 0.5, 0.1], [true, true, false, false]), 12);
    }

    [Fact]
    public void Auroc_IsOneForPerfectSeparation_ZeroForReversed_HalfForAllTied_NaNForOneClass()
    {
        Assert.Equal(1, SampleStatistics.Auroc([3, 4, 1, 2], [true, true, false, false]), 12);
        Assert.Equal(0, SampleStatistics.Auroc([1, 2, 3, 4], [true, true, false, false]), 12);
        Assert.Equal(0.5, SampleStatistics.Auroc([2, 2, 2, 2], [true, false, true, false]), 12);
        Assert.True(double.IsNaN(SampleStatistics.Auroc([1, 2], [true, true])));
    }

    [Theory]
    [InlineData(0, 99, 0.01)]
    [InlineData(4, 99, 0.05)]
    [InlineData(99, 99, 1.0)]
    [InlineData(0, 0, 1.0)]
    public void PermutationPValue_CountsTheObservedArrangement(int atLeast, int permutations, double expected) =>
        Assert.Equal(expected, SampleStatistics.PermutationPValue(atLeast, permutations), 12);

    [Fact]
    public void PermutationPValue_WithMoreExtremeThanPermutations_IsRejected() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleStatistics.PermutationPValue(11, 10));

    // 8/10 at 95%: p̂ = 0.8, z² = 3.8415; centre = (0.8 + 0.19207) / 1.38415 = 0.71673;
    // half = 1.95996 / 1.38415 · √(0.016 + 0.0096036) = 0.22664 → [0.4902, 0.9433].
    [Theory]
    [InlineData(8, 10, 0.4902, 0.9433)]
    [InlineData(0, 10, 0.0, 0.2775)]
    [InlineData(10, 10, 0.7225, 1.0)]
    [InlineData(50, 100, 0.4038, 0.5962)]
    public void WilsonInterval_MatchesHandComputedValues(long successes, long trials, double low, double high)
    {
        (double l, double h) = SampleStatistics.WilsonInterval(successes, trials);

        Assert.Equal(low, l, 4);
        Assert.Equal(high, h, 4);
    }

    [Fact]
    public void WilsonInterval_WithoutTrials_IsTheWholeRange_AndImpossibleCountsAreRejected()
    {
        Assert.Equal((0.0, 1.0), SampleStatistics.WilsonInterval(0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => SampleStatistics.WilsonInterval(11, 10));
    }
}
