namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// Wakes this process's audit workers when an audit is queued here, so a submission starts at once rather than at a
/// worker's next poll (up to <c>Audit:Worker:PollInterval</c>, one second by default, later). Workers in other
/// processes (<c>src/Audit.Worker</c>) still find queued audits by polling the database; the signal only shortens the
/// wait, it never decides who runs an audit (claiming stays in the database).
/// </summary>
public sealed class AuditQueueSignal
{
    private readonly Lock _gate = new();
    private TaskCompletionSource _next = NewSignal();

    /// <summary>
    /// Completes when an audit is queued after this call. A worker reads it before it tries to claim, so a submission
    /// that lands between an empty claim and the wait still wakes it.
    /// </summary>
    public Task Next
    {
        get
        {
            lock (_gate)
            {
                return _next.Task;
            }
        }
    }

    /// <summary>Wakes every worker waiting on <see cref="Next"/>.</summary>
    public void Queued()
    {
        TaskCompletionSource woken;
        lock (_gate)
        {
            woken = _next;
            _next = NewSignal();
        }

        woken.TrySetResult();
    }

    /// <summary>Waits for <paramref name="signal"/> or <paramref name="timeout"/>, whichever comes first.</summary>
    /// <param name="signal">What <see cref="Next"/> returned before the claim that found nothing.</param>
    /// <param name="timeout">The poll interval: other processes' submissions are seen at the latest then.</param>
    /// <param name="time">The clock the delay runs on.</param>
    /// <param name="cancellationToken">Stops waiting (the worker is stopping).</param>
    public static async Task WaitAsync(Task signal, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        using var delay = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task timer = Task.Delay(timeout, time, delay.Token);
        await Task.WhenAny(signal, timer).ConfigureAwait(false);
        // The timer must not outlive the wait when the signal came first.
        await delay.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
    }

    // Continuations run asynchronously: the submitting request must not run a worker's claim on its own thread.
    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
