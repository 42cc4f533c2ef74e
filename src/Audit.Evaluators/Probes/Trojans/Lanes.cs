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
}
