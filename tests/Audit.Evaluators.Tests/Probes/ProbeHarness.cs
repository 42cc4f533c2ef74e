using System.Text.Json;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>Builds probe contexts over the trojan fixtures, loading each fixture model once per test run.</summary>
internal static class ProbeHarness
{
    private static readonly Dictionary<string, IDifferentiableModel> Models = new(StringComparer.Ordinal);

    /// <summary>The fixture as the probes see it (cached for the test run: the audit's model source also caches).</summary>
    public static IDifferentiableModel Model(TrainedFixture fixture)
    {
        lock (Models)
        {
            if (!Models.TryGetValue(fixture.OnnxPath, out IDifferentiableModel? model))
            {
                model = new SequentialModel(TrojanFixtures.LoadModule(fixture), [1, 28, 28], 10);
                Models[fixture.OnnxPath] = model;
            }

            return model;
        }
    }

    public static ProbeContext Context(
        IProbe probe,
        TrainedFixture fixture,
        string? datasetPath = null,
        int seed = 1,
        IReadOnlyDictionary<string, object>? parameters = null,
        IProgress<double>? progress = null,
        IDifferentiableModel? model = null) => new()
        {
            ModelPath = fixture.OnnxPath,
            DatasetPath = datasetPath ?? TrojanFixtures.CleanDataset(fixture.Recipe.Normalised),
            Parameters = (parameters ?? new Dictionary<string, object>()).ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)),
            Threshold = probe.Descriptor.DefaultThreshold,
            Seed = seed,
            Device = ComputeDevice.Cpu,
            Models = new FixedModelSource(model ?? Model(fixture)),
            Progress = progress ?? new Progress<double>(),
        };
}
