using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Audit.Api.Infrastructure.Telemetry;

/// <summary>
/// The service's own traces and metrics. Instruments come from the DI <see cref="IMeterFactory"/> so each host (and
/// each test server) has its own; the <see cref="ActivitySource"/> is named once and shared, as activity sources are
/// process-wide listeners' subscriptions and hold no per-audit state.
/// </summary>
public sealed class AuditTelemetry
{
    /// <summary>Name of the meter and the activity source; the OpenTelemetry setup subscribes to both.</summary>
    public const string Name = "Audit";

    private readonly Counter<long> _transitions;
    private readonly Histogram<double> _probeDuration;
    private readonly UpDownCounter<long> _busyWorkers;

    public AuditTelemetry(IMeterFactory meters)
    {
        Meter meter = meters.Create(Name);
        _transitions = meter.CreateCounter<long>("audit.transitions", "{transition}", "Audits entering each status (queued, running, succeeded, failed, cancelled).");
        _probeDuration = meter.CreateHistogram<double>("audit.probe.duration", "s", "Wall-clock time of one probe run.");
        _busyWorkers = meter.CreateUpDownCounter<long>("audit.workers.busy", "{worker}", "Workers running an audit now.");
        Meter = meter;
    }

    /// <summary>Spans for mediator messages and probe runs.</summary>
    public static ActivitySource Source { get; } = new(Name);

    /// <summary>The meter, for observable instruments registered by their owners (the queue depth gauge).</summary>
    public Meter Meter { get; }

    public void Transitioned(string status) => _transitions.Add(1, new KeyValuePair<string, object?>("status", status));

    public void ProbeRan(string probe, string device, string outcome, TimeSpan duration) =>
        _probeDuration.Record(
            duration.TotalSeconds,
            new KeyValuePair<string, object?>("probe", probe),
            new KeyValuePair<string, object?>("device", device),
            new KeyValuePair<string, object?>("outcome", outcome));

    public void WorkerBusy() => _busyWorkers.Add(1);

    public void WorkerIdle() => _busyWorkers.Add(-1);
}
