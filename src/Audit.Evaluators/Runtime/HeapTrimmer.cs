namespace Audit.Evaluators.Runtime;

/// <summary>
/// Trims the native heap (<see cref="NativeHeap.Trim"/>) for one loop of a probe: above <see cref="NativeHeap.TrimAboveBytes"/>,
/// and then again only once the process has grown by <see cref="RegrowthBytes"/> past what the last trim left.
/// </summary>
/// <remarks>
/// Why not at every step above the line (the rule before 2026-12-02): a trim hands back the pages the next
/// step faults in again, so a process whose live memory sits near or above the line paid a trim and a page fault per
/// page at every step, for no memory. Measured (docs/benchmarks.md, "Trimming at every step above the line"): Neural
/// Cleanse's scan of the blended fixture took 61–67 s trimming at every step against 15 s without, on an idle AMD EPYC.
/// Test processes, which hold many models and hosts, sit above the line all the time; so does the service on a large
/// model. Growth is what the trim is for (glibc keeping freed arenas resident grew sub-MB models' scans to 1.1–1.8 GB),
/// and growth is what this waits for. One instance per loop (a search, a lane's walks): the state is the loop's own.
/// </remarks>
public sealed class HeapTrimmer
{
    /// <summary>
    /// Growth past the last trim's result before the next trim: an eighth of the 1 GB budget. With the line at 768 MiB
    /// a process whose trims leave it just below the line peaks near 896 MiB plus one step's allocations, inside the
    /// budget; a step's working set up to this size is kept between steps instead of being handed back and faulted in.
    /// </summary>
    public const long RegrowthBytes = 128L << 20;

    private readonly long _line;
    private readonly long _regrowth;
    private readonly Func<long> _resident;
    private readonly Func<bool> _trim;
    private long _afterLastTrim;

    /// <summary>A trimmer for one loop.</summary>
    /// <param name="line">Resident bytes below which nothing is trimmed; <see cref="NativeHeap.TrimAboveBytes"/> in the probes.</param>
    /// <param name="regrowth">Growth past the last trim's result before the next; <see cref="RegrowthBytes"/> in the probes.</param>
    public HeapTrimmer(long line = NativeHeap.TrimAboveBytes, long regrowth = RegrowthBytes)
        : this(line, regrowth, NativeHeap.IsGlibc ? NativeHeap.ResidentBytes : () => 0, NativeHeap.Trim)
    {
    }

    /// <summary>For tests: the process's resident size and the trim come from the caller.</summary>
    internal HeapTrimmer(long line, long regrowth, Func<long> resident, Func<bool> trim)
    {
        _line = line;
        _regrowth = regrowth;
        _resident = resident;
        _trim = trim;
    }

    /// <summary>
    /// Trims when the process is above the line and has grown by the regrowth since this trimmer's last
    /// trim; returns whether it trimmed and memory was released. Safe to call from the lanes that share one loop (a
    /// race costs at most one extra or one skipped trim).
    /// </summary>
    public bool TrimWhenGrown()
    {
        long resident = _resident();
        if (resident <= 0 || resident <= Math.Max(_line, Volatile.Read(ref _afterLastTrim) + _regrowth))
        {
            return false;
        }

        bool released = _trim();
        Volatile.Write(ref _afterLastTrim, _resident());
        return released;
    }
}
