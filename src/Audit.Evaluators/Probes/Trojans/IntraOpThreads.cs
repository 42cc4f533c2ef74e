using TorchSharp;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Runs the calling thread's libtorch work with a fixed intra-op thread count, then sets it back to
/// <c>restoreTo</c>. Why: reductions split across threads add in another order, and the scan's early stopping
/// amplifies the last bits into other masks and other verdicts (the same model gave index 1.39 and 2.04 on two
/// machines, and a zoo model's p(trojan) 0.08 and 0.39 at one and two threads). A fixed count makes the scan the
/// same whatever the host's thread setting.
/// </summary>
/// <remarks>
/// libtorch keeps the count in OpenMP's per-thread setting (libgomp gives each non-OpenMP thread its own) and in a
/// process-wide default that threads read on their first parallel region. The scan pins each thread it uses when it
/// starts and restores the count the audit's thread had before the scan (read once, before any lane pinned), so a
/// concurrent probe's threads keep their own count; at worst a thread that touches libtorch for the first time
/// while a scan runs starts with the pinned count, which changes its speed, not its results' reproducibility.
/// </remarks>
internal sealed class IntraOpThreads : IDisposable
{
    private readonly int restoreTo;

    private IntraOpThreads(int threads, int restoreTo)
    {
        this.restoreTo = restoreTo;
        torch.set_num_threads(threads);
    }

    /// <summary>Pins the calling thread to <paramref name="threads"/> until disposed (on the same thread).</summary>
    public static IntraOpThreads Pin(int threads, int restoreTo) => new(threads, restoreTo);

    public void Dispose() => torch.set_num_threads(restoreTo);
}
