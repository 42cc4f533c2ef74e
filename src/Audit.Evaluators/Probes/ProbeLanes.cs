using System.Collections.Concurrent;
using TorchSharp;

namespace Audit.Evaluators.Probes;

/// <summary>
/// The threads an evaluation session runs lane probes on (<see cref="ProbeDescriptor.RunsInLane"/>): each set to one
/// libtorch intra-op thread once, when the lanes start, and kept for the session.
/// </summary>
/// <remarks>
/// Why dedicated threads set once, rather than pool threads set per probe: setting libtorch's thread count is not
/// local to the thread. Besides the calling thread's OpenMP and MKL counts it stores the process-wide default, resizes
/// a shared thread pool and clears oneDNN's primitive cache, and every thread runs it again, with that default, on its
/// first parallel region. Done while another probe computes, it raced with that probe (an imported graph's Add failed
/// in libtorch in one of five audits). So the lanes are started while none of the session's probes runs, each lane
/// thread initialises libtorch's count before setting it (so its first parallel region does not reset it), and the
/// starting thread sets the process default back to the host's count for threads that come later.
/// </remarks>
internal sealed class ProbeLanes : IDisposable
{
    private readonly BlockingCollection<Action> _work = new();
    private readonly Thread[] _threads;

    private ProbeLanes(int count)
    {
        _threads = new Thread[count];
    }

    /// <summary>Starts <paramref name="count"/> lane threads and returns once each has set its thread count to one.</summary>
    /// <remarks>Call only while none of the session's probes runs.</remarks>
    public static ProbeLanes Start(int count)
    {
        int host = torch.get_num_threads();
        var lanes = new ProbeLanes(count);
        using var ready = new CountdownEvent(count);
        for (int i = 0; i < count; i++)
        {
            lanes._threads[i] = new Thread(() =>
            {
                _ = torch.get_num_threads(); // libtorch's once-per-thread initialisation, which would reset the count later
                torch.set_num_threads(1);
                ready.Signal();
                foreach (Action work in lanes._work.GetConsumingEnumerable())
                {
                    work();
                }
            })
            {
                IsBackground = true,
                Name = $"probe-lane-{i}",
            };
            lanes._threads[i].Start();
        }

        ready.Wait();
        torch.set_num_threads(host);
        return lanes;
    }

    /// <summary>Runs <paramref name="work"/> on a free lane thread; at most as many callers at once as there are lanes.</summary>
    public Task<T> Run<T>(Func<T> work, CancellationToken cancellationToken)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _work.Add(() =>
        {
            if (cancellationToken.IsCancellationRequested)
            {
                result.TrySetCanceled(cancellationToken);
                return;
            }

            try
            {
                result.TrySetResult(work());
            }
            catch (OperationCanceledException ex) when (ex.CancellationToken == cancellationToken)
            {
                result.TrySetCanceled(cancellationToken);
            }
#pragma warning disable CA1031 // The probe's failure goes to its awaiting caller; the lane thread goes on.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                result.TrySetException(ex);
            }
        }, CancellationToken.None);
        return result.Task;
    }

    /// <summary>Lets the lane threads finish the work queued and end.</summary>
    public void Dispose()
    {
        _work.CompleteAdding();
        foreach (Thread thread in _threads)
        {
            thread.Join();
        }

        _work.Dispose();
    }
}
