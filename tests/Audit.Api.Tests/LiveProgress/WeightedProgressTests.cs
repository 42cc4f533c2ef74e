using Audit.Api.Features.Audits.Running;

namespace Audit.Api.Tests.LiveProgress;

public sealed class WeightedProgressTests
{
    [Fact]
    public void Progress_IsTheCostWeightedSumOfWhatEachProbeHasDone()
    {
        var progress = new WeightedProgress([0.75, 0.25]);

        Assert.Equal(0.375, progress.Report(0, 0.5), 9);
        Assert.Equal(0.625, progress.Report(1, 1), 9);
        Assert.Equal(1.0, progress.Report(0, 1), 9);
    }

    /// <summary>A probe's reports arrive out of order from its lanes; a late smaller one must not pull the audit back.</summary>
    [Fact]
    public void AProbesLateSmallerReport_DoesNotMoveTheProgressBack()
    {
        var progress = new WeightedProgress([0.5, 0.5]);

        double ahead = progress.Report(0, 0.8);
        double late = progress.Report(0, 0.3);

        Assert.Equal(ahead, late, 9);
        Assert.Equal(0.4, late, 9);
    }

    [Theory]
    [InlineData(-0.5, 0)]
    [InlineData(1.7, 1)]
    [InlineData(double.NaN, 0)]
    public void OutOfRangeReports_AreClamped(double reported, double counted)
    {
        var progress = new WeightedProgress([1.0]);

        Assert.Equal(counted, progress.Report(0, reported), 9);
    }
}
