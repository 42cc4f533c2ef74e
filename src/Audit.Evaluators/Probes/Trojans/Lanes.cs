using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Two pieces of independent libtorch work run side by side, each on its own thread with a fixed intra-op thread count
/// (<see cref="IntraOpThreads"/>), so that both cores work and each piece computes exactly what it would alone.
/// </summary>
internal static class Lanes
{
    /// <summary>Runs two lanes on their own threads, each pinned to <paramref name="threads"/>, and waits for both (errors of either are rethrown, cancellation first).</summary>
    /// <param name="threads">Intra-op threads of each lane.</param>
    /// <param name="hostThreads">The count to restore on each lane's thread when it ends.</param>
    /// <param name="first">One lane's work.</param>
    /// <param name="second">The other lane's work.</param>
    /// <param name="cancellationToken">Stops lanes that have not started.</param>
    public static void Both(int threads, int hostThreads, Action first, Action second, CancellationToken cancellationToken)
    {
        Task Lane(Action work) => Task.Factory.StartNew(
            () =>
            {
                using IntraOpThreads pin = IntraOpThreads.Pin(threads, hostThreads);
                work();
            },
            cancellationToken,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);

        Task[] lanes = [Lane(first), Lane(second)];
        try
        {
            Task.WaitAll(lanes, CancellationToken.None);
        }
        catch (AggregateException error) when (error.InnerExceptions.Count >= 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(error.InnerExceptions.OfType<OperationCanceledException>().FirstOrDefault() ?? error.InnerExceptions[0]).Throw();
            throw;
        }
    }

    /// <summary>
    /// Runs two lanes as <see cref="Both"/> does; the lane that finishes first does work later probes of the audit offered
    /// on <paramref name="model"/> (<see cref="IdleWork"/>) until the other finishes, instead of waiting with a core idle.
    /// Offered steps compute what their probe would (same inputs, seeds, thread count), so this changes no number.
    /// </summary>
    /// <param name="threads">Intra-op threads of each lane (and of the idle steps they run).</param>
    /// <param name="hostThreads">The count to restore on each lane's thread when it ends.</param>
    /// <param name="first">One lane's work.</param>
    /// <param name="second">The other lane's work.</param>
    /// <param name="idle">The audit's offered work.</param>
    /// <param name="model">The model idle steps may compute on while the other lane works.</param>
    /// <param name="timings">Records the idle steps as the stage <paramref name="stage"/>.</param>
    /// <param name="stage">Name of the idle steps' stage in <paramref name="timings"/>.</param>
    /// <param name="cancellationToken">Stops lanes that have not started, and idle steps.</param>
    public static void BothFillingWaits(
        int threads,
        int hostThreads,
        Action first,
        Action second,
        IdleWork idle,
        IdleModel model,
        ProbeTimings? timings,
        string stage,
        CancellationToken cancellationToken)
    {
        var firstDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var secondDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Action Filled(Action work, TaskCompletionSource own, TaskCompletionSource other) => () =>
        {
            try
            {
                work();
            }
            finally
            {
                // Set on failure too, so the other lane's idle steps end.
                own.TrySetResult();
            }

            using IDisposable? timed = timings?.Stage(stage);
            idle.RunUntil(other.Task, model, cancellationToken);
        };

        Both(threads, hostThreads, Filled(first, firstDone, secondDone), Filled(second, secondDone, firstDone), cancellationToken);
    }
}
