using System.Numerics;
using Audit.Domain.Statistics;

namespace Audit.Domain.Tests.Statistics;

public sealed class ChanceLevelTestTests
{
    // Every n ≤ 40, every k and five chances, against the tail summed exactly in integers: C(n, j)·a^j·(b − a)^(n − j) / b^n.
    [Theory]
    [InlineData(1, 2)]
    [InlineData(1, 10)]
    [InlineData(1, 43)]
    [InlineData(3, 10)]
    [InlineData(9, 10)]
    public void BinomialUpperTail_MatchesTheExactSumForEverySmallCount(int numerator, int denominator)
    {
        double p = numerator / (double)denominator;
        for (int n = 1; n <= 40; n++)
        {
            for (int k = 0; k <= n + 1; k++)
            {
                double exact = ExactTail(n, k, numerator, denominator);
                double tail = ChanceLevelTest.BinomialUpperTail(n, k, p);
                Assert.True(Math.Abs(tail - exact) <= 1e-12 + (1e-9 * exact), $"n {n}, k {k}, p {p}: {tail} against {exact}");
            }
        }
    }

    // The same exact sums (Python's fractions, done apart from this code) for the counts the trojan check meets:
    // 1,000 evidence inputs, ten or 43 classes.
    [Theory]
    [InlineData(1000, 130, 0.1, 0.001341398370873429)]
    [InlineData(1000, 112, 0.1, 0.11385744267689148)]
    [InlineData(1000, 101, 0.1, 0.47340091870483486)]
    [InlineData(1000, 46, 1.0 / 43, 1.561816454624118e-05)]
    [InlineData(9000, 1000, 0.1, 0.0002844988602918388)]
    public void BinomialUpperTail_MatchesExactSumsAtTheEvidenceSizes(int n, int k, double p, double expected) =>
        Assert.Equal(expected, ChanceLevelTest.BinomialUpperTail(n, k, p), expected * 1e-9);

    [Fact]
    public void BinomialUpperTail_NeverRisesWithMoreRightAnswers_AndSpansZeroToOne()
    {
        double previous = 1;
        for (int k = 0; k <= 2000; k++)
        {
            double tail = ChanceLevelTest.BinomialUpperTail(2000, k, 0.1);
            Assert.InRange(tail, 0, previous);
            previous = tail;
        }

        Assert.Equal(1, ChanceLevelTest.BinomialUpperTail(2000, 0, 0.1));
        Assert.True(ChanceLevelTest.BinomialUpperTail(2000, 2000, 0.1) < 1e-300);
    }

    [Fact]
    public void AModelAnsweringOneClass_IsNotAboveChance_AndAWorkingOneIs()
    {
        // 1,000 inputs, 120 of class 0 and 880 spread over nine others: a constant answer of class 0 scores 12 %.
        long[] labels = [.. Enumerable.Repeat(0L, 120), .. Enumerable.Range(0, 880).Select(i => 1L + (i % 9))];

        ChanceLevelTest collapsed = ChanceLevelTest.Of(labels, 120);
        ChanceLevelTest working = ChanceLevelTest.Of(labels, 800);

        Assert.Equal(0.12, collapsed.Chance, 12);
        Assert.False(collapsed.AboveLevel);
        Assert.True(collapsed.TailProbability > 0.4);
        Assert.True(working.AboveLevel);
        Assert.Equal(0.8, working.Accuracy, 12);
    }

    [Fact]
    public void TheEdgeSitsWhereTheTailCrossesAlpha()
    {
        // Against 1/10 at n = 1,000: 131 right is the least count whose tail is at most 0.001 (130's is 0.00134).
        Assert.False(ChanceLevelTest.Of(1000, 130, 0.1).AboveLevel);
        Assert.True(ChanceLevelTest.Of(1000, 131, 0.1).AboveLevel);
        Assert.True(ChanceLevelTest.Of(1000, 130, 0.1, alpha: 0.01).AboveLevel);
    }

    [Fact]
    public void TheTaskCheck_TestsAgainstOneHalf_WhenChanceIsLower_AndAgainstChanceWhenItIsHigher()
    {
        // Ten classes, a constant answer scores 12 %: 400 right of 1,000 is far above chance but wrong more often than right.
        long[] labels = [.. Enumerable.Repeat(0L, 120), .. Enumerable.Range(0, 880).Select(i => 1L + (i % 9))];

        ChanceLevelTest poor = ChanceLevelTest.OfTask(labels, 400);

        Assert.True(ChanceLevelTest.Of(labels, 400).AboveLevel);
        Assert.False(poor.AboveLevel);
        Assert.True(poor.TestedAgainstHalf);
        Assert.Equal(0.5, poor.Level, 12);
        Assert.Equal(0.12, poor.Chance, 12);
        Assert.Equal(ChanceLevelTest.BinomialUpperTail(1000, 400, 0.5), poor.TailProbability, 15);
        Assert.True(ChanceLevelTest.OfTask(labels, 800).AboveLevel);

        // Two classes, 70 % of one: chance is above one half, so the check is the plain chance test.
        long[] skewed = [.. Enumerable.Repeat(0L, 700), .. Enumerable.Repeat(1L, 300)];
        ChanceLevelTest againstChance = ChanceLevelTest.OfTask(skewed, 700);

        Assert.False(againstChance.TestedAgainstHalf);
        Assert.Equal(0.7, againstChance.Level, 12);
        Assert.Equal(ChanceLevelTest.Of(skewed, 700), againstChance);
    }

    [Fact]
    public void TheHalfEdgeSitsWhereTheTailCrossesAlpha()
    {
        // Against 1/2 at n = 1,000: 550 right is the least count whose tail is at most 0.001 (549's is 0.00107).
        Assert.False(ChanceLevelTest.OfTask(1000, 549, 0.1).AboveLevel);
        Assert.True(ChanceLevelTest.OfTask(1000, 550, 0.1).AboveLevel);
    }

    [Theory]
    [InlineData(0, 0, 0.1)]
    [InlineData(10, 11, 0.1)]
    [InlineData(10, -1, 0.1)]
    public void CountsThatAreNotRightAnswers_AreRejected(int inputs, int correct, double chance) =>
        Assert.Throws<ArgumentException>(() => ChanceLevelTest.Of(inputs, correct, chance));

    private static double ExactTail(int n, int k, int a, int b)
    {
        BigInteger sum = BigInteger.Zero;
        for (int j = Math.Max(k, 0); j <= n; j++)
        {
            sum += Choose(n, j) * BigInteger.Pow(a, j) * BigInteger.Pow(b - a, n - j);
        }

        // Log of zero is −∞, whose exponential is the tail 0.
        return Math.Exp(BigInteger.Log(sum) - BigInteger.Log(BigInteger.Pow(b, n)));
    }

    private static BigInteger Choose(int n, int k)
    {
        BigInteger result = BigInteger.One;
        for (int i = 1; i <= k; i++)
        {
            result = result * (n - k + i) / i;
        }

        return result;
    }
}
