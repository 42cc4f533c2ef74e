using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Runtime;

namespace Audit.Evaluators.Sessions;

/// <summary>
/// Runs probes once on a small synthetic image classifier (<see cref="WarmUpClassifier"/>) and discards what they
/// find, so that a service compiles the probes' code before its first real audit instead of during it.
/// </summary>
/// <remarks>
/// Why: .NET compiles a method when it is first called and again, optimised, once it is hot (tiered compilation), so
/// the first audit after a start paid for compiling the trigger searches, the ONNX import and the probes' statistics:
/// 16.1 s for the README's trojan-scan audit against 14.4–14.6 s for the next ones in the same service
/// (docs/benchmarks.md). The warm-up is its own evaluation session on its own files: it shares no tensors, caches or
/// random state with any audit, so no audit's findings depend on whether it ran.
/// </remarks>
public static class ProbeWarmUp
{
    /// <summary>Inputs in the warm-up evidence: enough for every probe's per-class statistics on ten classes.</summary>
    public const int Samples = 200;

    /// <summary>The built-in profile whose probes are warmed up: those whose audit time the service is held to.</summary>
    public const string ProfileId = "trojan-scan";

    /// <summary>The probes of the newest built-in <see cref="ProfileId"/> profile, in its order, with its parameters and thresholds.</summary>
    public static IReadOnlyList<ProbeInvocation> ProfileProbes() =>
        BuiltInProfiles.All.Where(p => p.Id == ProfileId).MaxBy(p => p.Version, ProfileVersions.Precedence) is { } profile
            ? [.. profile.Controls.SelectMany(c => c.Probes).Select(p => new ProbeInvocation(p.Probe, p.Parameters, p.Threshold))]
            : [];

    /// <summary>
    /// Runs <paramref name="probes"/> (started together and awaited in order, as an audit runs them) on the warm-up
    /// classifier in a temporary folder under <paramref name="folder"/>, removed afterwards.
    /// </summary>
    public static async Task<IReadOnlyList<ProbeOutcome>> RunAsync(
        ProbeRunner runner, IReadOnlyList<ProbeInvocation> probes, string folder, string? deviceSetting, int seed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(probes);
        string scratch = Path.Combine(folder, $"warm-up-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            string model = Path.Combine(scratch, "model.onnx");
            string evidence = Path.Combine(scratch, "evidence.safetensors");
            WarmUpClassifier.Write(model, evidence, Samples, seed);
            using EvaluationSession session = runner.Open(model, evidence, deviceSetting, seed);
            Task<ProbeOutcome>[] runs = [.. probes.Select(probe => session.RunAsync(probe, new Progress<double>(), cancellationToken))];
            var outcomes = new List<ProbeOutcome>(runs.Length);
            foreach (Task<ProbeOutcome> run in runs)
            {
                outcomes.Add(await run);
            }

            return outcomes;
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
            // What the warm-up freed stays resident in glibc's arenas otherwise, and the service's audits would start
            // that much nearer the line above which their loops trim (NativeHeap.TrimAboveBytes).
            NativeHeap.Trim();
        }
    }
}
