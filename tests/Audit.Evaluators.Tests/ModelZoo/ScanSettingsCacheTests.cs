using System.Text.Json;
using Audit.ModelZoo;

namespace Audit.Evaluators.Tests.ModelZoo;

/// <summary>
/// A scratch cache surveyed at other scan settings (`survey --scan-settings`, benchmarks/model-zoo-lighter-scan) holds
/// lines of those settings only: a fit over it must never mix statistics of two scans.
/// </summary>
public sealed class ScanSettingsCacheTests : IDisposable
{
    private static readonly Dictionary<string, JsonElement> Lighter = Settings("""{"maxSteps":200,"referenceSteps":150,"restarts":1}""");

    private readonly string _cache = Directory.CreateTempSubdirectory("audit-scan-settings-").FullName;

    public void Dispose() => Directory.Delete(_cache, recursive: true);

    [Fact]
    public async Task TheFirstSurveyRecordsItsSettings_AndASurveyAtOtherSettingsIsRefused()
    {
        await Survey(Lighter);

        Assert.Equal("""{"maxSteps":200,"referenceSteps":150,"restarts":1}""", File.ReadAllText(ZooSurvey.ScanSettingsFile(_cache)).Trim());
        await Survey(Settings("""{"restarts":1,"referenceSteps":150,"maxSteps":200}""")); // the same settings in another order
        await Assert.ThrowsAsync<InvalidOperationException>(() => Survey(Settings("""{"maxSteps":100}""")));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Survey(null));
    }

    [Fact]
    public async Task ACacheAlreadyHoldingDefaultLines_IsRefusedOtherSettings()
    {
        string line = File.ReadLines(Path.Combine(Audit.Testing.RepositoryRoot.Folder, ZooOptions.CommittedCache, "survey", "design.jsonl")).First();
        await File.WriteAllTextAsync(ZooSurvey.SurveyFile(_cache, ZooSplits.Design), line + "\n");

        await Survey(null);
        await Assert.ThrowsAsync<InvalidOperationException>(() => Survey(Lighter));
        Assert.False(File.Exists(ZooSurvey.ScanSettingsFile(_cache)));
    }

    /// <summary>A survey of no recipes: it checks the cache's settings and trains or reads nothing.</summary>
    private Task Survey(Dictionary<string, JsonElement>? settings) =>
        new ZooSurvey(_cache, new ZooTrainer(_cache), 20240613, settings).RunAsync([], "none", CancellationToken.None, probes: ["neural-cleanse"]);

    private static Dictionary<string, JsonElement> Settings(string json) => JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(json)!;
}
