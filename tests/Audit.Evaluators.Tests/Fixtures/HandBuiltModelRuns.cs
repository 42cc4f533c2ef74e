using System.Text.Json;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Testing.Onnx;
using TorchSharp.Modules;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>
/// Probe tests on networks built by hand (collapsed, diverged): the network is exported as a 1×28×28 ONNX model in a
/// temporary folder and audited as the service would, the probes run one after another in one evaluation session.
/// </summary>
internal static class HandBuiltModelRuns
{
    /// <summary>Runs <paramref name="probes"/>, with their defaults, in order in one session over <paramref name="catalog"/> (audit seed 1).</summary>
    public static async Task<ProbeOutcome[]> RunAsync(Sequential model, string dataset, IEnumerable<IProbe> catalog, IReadOnlyList<string> probes)
    {
        string folder = Directory.CreateTempSubdirectory("hand-built-").FullName;
        try
        {
            string onnx = Path.Combine(folder, "model.onnx");
            SequentialOnnxExporter.Save(model, [1, 28, 28], onnx);
            var runner = new ProbeRunner(new ProbeCatalog(catalog), static (path, device) => new OnnxModelSource(path, device));
            using EvaluationSession session = runner.Open(onnx, dataset, "cpu", 1);
            var outcomes = new ProbeOutcome[probes.Count];
            for (int i = 0; i < probes.Count; i++)
            {
                outcomes[i] = await session.RunAsync(new ProbeInvocation(probes[i], new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
            }

            return outcomes;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
