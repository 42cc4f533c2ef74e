using Audit.Domain.Findings;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

[Collection(NativeTorch.Collection)]
public sealed class AccuracyProbeTests
{
    [Fact]
    public async Task CleanFixture_MeasuresItsTestAccuracy_WithAWilsonInterval()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new AccuracyProbe();
        var context = ProbeHarness.Context(probe, fixture, TrojanFixtures.CleanDataset(false, 2000, 8000), parameters: new Dictionary<string, object> { ["minimumAccuracy"] = 0.8 });

        ProbeOutcome outcome = await probe.RunAsync(context, CancellationToken.None);

        double accuracy = (double)outcome.Details["accuracy"]!;
        var interval = outcome.Details["confidenceInterval95"]!.AsArray();
        Assert.Equal(Verdict.Pass, outcome.Verdict);
        Assert.Equal(2000, (int)outcome.Details["n"]!);
        Assert.InRange(accuracy, 0.85, 0.95);
        Assert.InRange(accuracy, (double)interval[0]!, (double)interval[1]!);
        Assert.Equal(0.8 / accuracy, outcome.Score!.Value, 9);
    }

    [Fact]
    public async Task DeclaredLevelAboveMeasured_IsFlagged()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        var probe = new AccuracyProbe();
        var context = ProbeHarness.Context(probe, fixture, TrojanFixtures.CleanDataset(false, 2000, 8000), parameters: new Dictionary<string, object> { ["minimumAccuracy"] = 0.97 });

        ProbeOutcome outcome = await probe.RunAsync(context, CancellationToken.None);

        Assert.Equal(Verdict.Fail, outcome.Verdict);
        Assert.True(outcome.Score > 1);
    }

    [Fact]
    public async Task UnlabelledDataset_IsRejected()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        string path = Path.Combine(Path.GetTempPath(), $"unlabelled-{Guid.NewGuid():N}.safetensors");
        SafetensorsDataset.Write(path, new DatasetArtifact(new float[2 * 784], [2, 1, 28, 28], null));
        var probe = new AccuracyProbe();

        try
        {
            await Assert.ThrowsAsync<DatasetRejectedException>(() => probe.RunAsync(ProbeHarness.Context(probe, fixture, path), CancellationToken.None));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task DatasetOfTheWrongImageSize_IsRejected()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        string path = Path.Combine(Path.GetTempPath(), $"wrong-{Guid.NewGuid():N}.safetensors");
        SafetensorsDataset.Write(path, new DatasetArtifact(new float[2 * 32 * 32], [2, 1, 32, 32], [0L, 1L]));
        var probe = new AccuracyProbe();

        try
        {
            var ex = await Assert.ThrowsAsync<DatasetRejectedException>(() => probe.RunAsync(ProbeHarness.Context(probe, fixture, path), CancellationToken.None));
            Assert.Contains("dimension 2", ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
