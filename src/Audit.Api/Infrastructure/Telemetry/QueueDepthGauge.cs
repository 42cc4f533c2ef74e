using Audit.Api.Infrastructure.Persistence;

namespace Audit.Api.Infrastructure.Telemetry;

/// <summary>
/// The queue depth gauge: audits waiting to be claimed, counted in the database (the queue is shared by every
/// worker process, so no one process's memory knows it). The count is refreshed in the background because an
/// observable instrument's callback runs synchronously inside the scrape.
/// </summary>
internal sealed class QueueDepthGauge : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly AuditRepository _audits;
    private readonly TimeProvider _time;
    private readonly ILogger<QueueDepthGauge> _logger;
    private long _depth;

    public QueueDepthGauge(AuditRepository audits, AuditTelemetry telemetry, TimeProvider time, ILogger<QueueDepthGauge> logger)
    {
        _audits = audits;
        _time = time;
        _logger = logger;
        telemetry.Meter.CreateObservableGauge("audit.queue.depth", () => Interlocked.Read(ref _depth), "{audit}", "Audits queued and not yet claimed.");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                Interlocked.Exchange(ref _depth, await _audits.CountQueuedAsync(stoppingToken));
                await Task.Delay(Interval, _time, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed count (database busy, not migrated yet) keeps the last value; the next refresh retries.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogDebug(ex, "Queue depth refresh failed");
                await Task.Delay(Interval, _time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }
}
