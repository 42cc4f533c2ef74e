using System.Text.Json;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>Builds probe contexts over the trojan fixtures, loading each fixture model once per test run.</summary>
internal static class ProbeHarness
{
    private static readonly Dictionary<string, OnnxModelSource> Sources = new(StringComparer.Ordinal);

    /// <summary>
    /// The fixture's exported ONNX file imported as the audit imports it (the real path), one source per file for the
    /// test run, as the audit's model source caches the graph for all its probes.
    /// </summary>
    public static IModelSource Source(TrainedFixture fixture)
    {
        lock (Sources)
        {
            if (!Sources.TryGetValue(fixture.OnnxPath, out OnnxModelSource? source))
            {
                source = new OnnxModelSource(fixture.OnnxPath, ComputeDevice.Cpu);
                Sources[fixture.OnnxPath] = source;
            }

            return source;
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
            Models = model is null ? Source(fixture) : new FixedModelSource(model),
            Progress = progress ?? new Progress<double>(),
        };
}
