using Audit.Api.Infrastructure;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Sessions;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// The process's one probe warm-up (<see cref="ProbeWarmUp"/>, <c>Audit:Worker:WarmUp</c>): the first audit worker to
/// start runs it, and every worker waits for it before claiming an audit, so the first audit runs on compiled code
/// instead of competing with the compiler for the cores.
/// </summary>
/// <remarks>
/// It runs the latest built-in trojan-scan profile's probes with that profile's parameters: those are the probes whose
/// audit time the service is held to (docs/benchmarks.md). A warm-up that fails is logged and ends the wait; it only
/// ever makes audits faster, so it must never keep them from running.
/// </remarks>
public sealed class ProbeWarmUpGate : IDisposable
{
    /// <summary>The built-in profile whose probes are warmed up.</summary>
    public const string ProfileId = "trojan-scan";

    private readonly ProbeRunner _runner;
    private readonly AuditOptions _options;
    private readonly ILogger<ProbeWarmUpGate> _logger;
    private readonly CancellationTokenSource _disposing = new();
    private readonly Lazy<Task> _warmUp;

    public ProbeWarmUpGate(ProbeRunner runner, IOptions<AuditOptions> options, ILogger<ProbeWarmUpGate> logger)
    {
        _runner = runner;
        _options = options.Value;
        _logger = logger;
        _warmUp = new Lazy<Task>(() => _options.Worker.WarmUp ? Task.Run(RunAsync) : Task.CompletedTask, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>True once the warm-up has ended (or when it is switched off).</summary>
    public bool Done => !_options.Worker.WarmUp || (_warmUp.IsValueCreated && _warmUp.Value.IsCompleted);

    /// <summary>Starts the warm-up if no worker has yet, and waits for it to end.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _warmUp.Value.WaitAsync(cancellationToken);

    public void Dispose()
    {
        _disposing.Cancel();
        _disposing.Dispose();
    }

    /// <summary>The probes of the latest built-in trojan-scan profile, in its order, with its parameters and thresholds.</summary>
    public static IReadOnlyList<ProbeInvocation> Probes() =>
        BuiltInProfiles.All.Where(p => p.Id == ProfileId).MaxBy(p => p.Version, ProfileVersions.Precedence) is { } profile
            ? [.. profile.Controls.SelectMany(c => c.Probes).Select(p => new ProbeInvocation(p.Probe, p.Parameters, p.Threshold))]
            : [];

    private async Task RunAsync()
    {
        CancellationToken cancellationToken = _disposing.Token;
        try
        {
            IReadOnlyList<ProbeInvocation> probes = Probes();
            ProbeWarmUpResult result = await ProbeWarmUp.RunAsync(_runner, probes, Path.GetTempPath(), _options.Device, _options.Worker.Seed, cancellationToken);
            _logger.LogInformation(
                "Probes warmed up in {Seconds:F1} s on a synthetic model ({Probes}); audits start now",
                result.Elapsed.TotalSeconds, string.Join(", ", probes.Select(p => p.Probe)));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutting down before the warm-up ended: nothing to report.
        }
#pragma warning disable CA1031 // A warm-up only saves time; whatever breaks it must not keep audits from running.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogWarning(ex, "The probe warm-up failed; the first audit compiles the probes' code instead");
        }
    }
}
