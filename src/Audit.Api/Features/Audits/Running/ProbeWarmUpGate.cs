using Audit.Evaluators.Runtime;
using Audit.Api.Infrastructure;
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
/// It runs the latest built-in trojan-scan profile's probes with that profile's parameters
/// (<see cref="ProbeWarmUp.ProfileProbes"/>). A warm-up that fails is logged and ends the wait; it only ever makes
/// audits faster, so it must never keep them from running.
/// </remarks>
public sealed class ProbeWarmUpGate : IDisposable
{
    private readonly ProbeRunner _runner;
    private readonly TimeProvider _time;
    private readonly AuditOptions _options;
    private readonly ILogger<ProbeWarmUpGate> _logger;
    private readonly CancellationTokenSource _disposing = new();
    private readonly Lazy<Task> _warmUp;

    public ProbeWarmUpGate(ProbeRunner runner, TimeProvider time, IOptions<AuditOptions> options, ILogger<ProbeWarmUpGate> logger)
    {
        _runner = runner;
        _time = time;
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

    private async Task RunAsync()
    {
        CancellationToken cancellationToken = _disposing.Token;
        try
        {
            long started = _time.GetTimestamp();
            LogConvolutionKernels();
            IReadOnlyList<ProbeInvocation> probes = ProbeWarmUp.ProfileProbes();
            await ProbeWarmUp.RunAsync(_runner, probes, Path.GetTempPath(), _options.Device, _options.Worker.Seed, cancellationToken);
            _logger.LogInformation(
                "Probes warmed up in {Seconds:F1} s on a synthetic model ({Probes}); audits start now",
                _time.GetElapsedTime(started).TotalSeconds, string.Join(", ", probes.Select(p => p.Probe)));
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

    private void LogConvolutionKernels()
    {
        ConvolutionKernels kernels = ConvolutionKernelCheck.EnsureVerified();
        if (kernels.OneDnnTurnedOff)
        {
            _logger.LogWarning("Convolutions run on {Kernels}: {Detail}. Audits are right but slower; see docs/operations.md", kernels.Kernels, kernels.Detail);
        }
        else
        {
            _logger.LogInformation("Convolutions run on {Kernels}: {Detail}", kernels.Kernels, kernels.Detail);
        }
    }
}
