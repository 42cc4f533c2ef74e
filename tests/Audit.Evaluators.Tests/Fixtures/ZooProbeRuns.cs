using System.Diagnostics;
using System.Text.Json;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.ModelZoo;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>
/// Probe tests on the model zoo's design-split models (the split detectors may be tuned on): each model is trained from
/// its fixed seed on first use and cached under the fixture cache, then audited by one probe as the service would.
/// </summary>
internal static class ZooProbeRuns
{
    /// <summary>The design-split recipe of <paramref name="seed"/> in the default catalog.</summary>
    public static ZooRecipe DesignRecipe(int seed) =>
        Assert.Single(ZooCatalog.Recipes(ZooCatalog.DefaultSizes), r => r.Seed == seed && r.Split == ZooSplits.Design);

    /// <summary>
    /// Runs <paramref name="probe"/> with its defaults (or <paramref name="parameters"/>) on <paramref name="recipe"/>'s
    /// model at audit seed <paramref name="seed"/>, asserting first that a backdoored recipe's implant took; prints the
    /// verdict, score, wall and CPU seconds and the summary.
    /// </summary>
    public static async Task<ProbeOutcome> RunAsync(IProbe probe, ZooRecipe recipe, int seed, ITestOutputHelper output, IReadOnlyDictionary<string, JsonElement>? parameters = null)
    {
        var trainer = new ZooTrainer(Path.Combine(TrojanFixtures.CacheDirectory, "model-zoo"));
        ZooModel model;
        using (FixtureLock.Acquire(TrojanFixtures.CacheDirectory))
        {
            model = trainer.GetOrTrain(recipe);
        }

        Assert.True(!recipe.Backdoored || model.Implanted, $"{recipe.Name}: attack success {model.AttackSuccessRate}");
        var runner = new ProbeRunner(new ProbeCatalog([probe]), static (path, device) => new OnnxModelSource(path, device));
        using EvaluationSession session = runner.Open(Path.Combine(trainer.ModelFolder, model.OnnxFile), trainer.Evidence(recipe), "cpu", seed);
        TimeSpan cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        ProbeOutcome outcome = await session.RunAsync(
            new ProbeInvocation(probe.Descriptor.Name, parameters ?? new Dictionary<string, JsonElement>(), null), new Progress<double>(), CancellationToken.None);
        output.WriteLine($"{recipe.Name} seed {seed}: {outcome.Verdict} score {outcome.Score:F3} ({clock.Elapsed.TotalSeconds:F1} s wall, {(Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds:F1} CPU-s) {outcome.Summary}");
        return outcome;
    }
}
