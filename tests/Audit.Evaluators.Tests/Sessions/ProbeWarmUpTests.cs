using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Tests.Sessions;

[Collection(NativeTorch.Collection)]
public sealed class ProbeWarmUpTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"warm-up-tests-{Guid.NewGuid():N}");

    public ProbeWarmUpTests() => Directory.CreateDirectory(folder);

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void TheWarmUpModel_IsAnExecutableTenClassImageClassifier()
    {
        string model = Path.Combine(folder, "model.onnx");
        WarmUpClassifier.Write(model, Path.Combine(folder, "evidence.safetensors"), 20, seed: 3);

        ModelInventory inventory = ModelInspector.InspectAndRun(model, CancellationToken.None);

        Assert.True(inventory.Executable, inventory.ExecutionError);
        Assert.Empty(inventory.UnsupportedOperators);
        Assert.Equal(ModelKindNames.ImageClassifier, inventory.Interface?.Kind);
        Assert.Equal(WarmUpClassifier.Classes, inventory.Interface?.Classes);
    }

    /// <summary>
    /// A warm-up that ran its probes into an early exit (a refused model, too few inputs per class) would compile
    /// little of what an audit runs: every probe of the built-in trojan-scan profile must measure something, at the
    /// service's default seed and at another.
    /// </summary>
    [Theory]
    [InlineData(20240613)]
    [InlineData(11)]
    public async Task TheWarmUp_RunsEveryTrojanScanProbeToAMeasurement_AndLeavesNoFiles(int seed)
    {
        IReadOnlyList<ProbeInvocation> probes = ProbeWarmUp.ProfileProbes();
        Assert.Contains(probes, p => p.Probe == "neural-cleanse");
        var catalog = new ProbeCatalog([new ModelInventoryProbe(), .. TrojanProbes.All(), new TrojanLikelihoodProbe()]);
        var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));

        IReadOnlyList<ProbeOutcome> outcomes = await ProbeWarmUp.RunAsync(runner, probes, folder, "cpu", seed, CancellationToken.None);

        Assert.Equal(probes.Count, outcomes.Count);
        Assert.All(outcomes.Zip(probes), pair => Assert.True(pair.First.Score is not null, $"{pair.Second.Probe}: {pair.First.Summary}"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(folder));
    }
}
