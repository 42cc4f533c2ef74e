using System.Text.Json;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Builds probe contexts over the trojan fixtures, loading each fixture model once per test run. The test run plays
/// one long audit per fixture and dataset: their evidence and session cache are shared by every test that uses the
/// fixture's own model, as an audit's session shares them between its probes.
/// </summary>
internal static class ProbeHarness
{
    private static readonly Dictionary<string, OnnxModelSource> Sources = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, AuditEvidence> Evidence = new(StringComparer.Ordinal);
    private static readonly Dictionary<string, SessionCache> Sessions = new(StringComparer.Ordinal);

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

    /// <summary>The evidence file read once per test run, as one audit's session reads it once.</summary>
    public static AuditEvidence EvidenceFor(string? datasetPath)
    {
        lock (Evidence)
        {
            string key = datasetPath ?? "";
            if (!Evidence.TryGetValue(key, out AuditEvidence? evidence))
            {
                evidence = new AuditEvidence(datasetPath, ComputeDevice.Cpu);
                Evidence[key] = evidence;
            }

            return evidence;
        }
    }

    /// <summary>
    /// A probe context on the fixture. With <paramref name="model"/> (another instance), the probes get a fresh session
    /// unless <paramref name="session"/> is given, so nothing computed on the fixture's shared instance is reused.
    /// </summary>
    public static ProbeContext Context(
        IProbe probe,
        TrainedFixture fixture,
        string? datasetPath = null,
        int seed = 1,
        IReadOnlyDictionary<string, object>? parameters = null,
        IProgress<double>? progress = null,
        IDifferentiableModel? model = null,
        SessionCache? session = null,
        ProbeTimings? timings = null)
    {
        string dataset = datasetPath ?? TrojanFixtures.CleanDataset(fixture.Recipe.Normalised);
        return new()
        {
            ModelPath = fixture.OnnxPath,
            DatasetPath = dataset,
            Parameters = (parameters ?? new Dictionary<string, object>()).ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)),
            Threshold = probe.Descriptor.DefaultThreshold,
            Seed = seed,
            Device = ComputeDevice.Cpu,
            Models = model is null ? Source(fixture) : new FixedModelSource(model),
            Progress = progress ?? new Progress<double>(),
            Evidence = EvidenceFor(dataset),
            Session = session ?? (model is null ? SharedSession(fixture.OnnxPath, dataset) : new SessionCache()),
            Timings = timings,
        };
    }

    private static SessionCache SharedSession(string modelPath, string datasetPath)
    {
        lock (Sessions)
        {
            string key = modelPath + "|" + datasetPath;
            if (!Sessions.TryGetValue(key, out SessionCache? session))
            {
                session = new SessionCache();
                Sessions[key] = session;
            }

            return session;
        }
    }
}
