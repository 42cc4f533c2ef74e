using System.Collections.Concurrent;
using System.Diagnostics;

namespace Audit.Evaluators.Sessions;

/// <summary>Where a probe's time can be attributed, for the scan benchmark.</summary>
public enum TimedPhase
{
    /// <summary>libtorch's backward pass while reverse-engineering triggers.</summary>
    TriggerBackward,

    /// <summary>Forward passes of the distilled reference.</summary>
    ReferenceForward,

    /// <summary>libtorch's backward pass while distilling the reference.</summary>
    ReferenceBackward,
}

/// <summary>
/// An optional observer of where probe time goes. Benchmarks pass one through the probe context; audits pass none,
/// and then nothing is measured. Thread-safe.
/// </summary>
public sealed class ProbeTimings
{
    private readonly long[] _ticks = new long[Enum.GetValues<TimedPhase>().Length];
    private readonly ConcurrentDictionary<string, long> _stageTicks = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _active = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, double> _stageCpu = new(StringComparer.Ordinal);

    /// <summary>Adds <paramref name="stopwatchTicks"/> (<see cref="Stopwatch.GetTimestamp"/> units) to <paramref name="phase"/>.</summary>
    public void Add(TimedPhase phase, long stopwatchTicks) => Interlocked.Add(ref _ticks[(int)phase], stopwatchTicks);

    /// <summary>Seconds recorded for <paramref name="phase"/> since construction or <see cref="Reset"/>.</summary>
    public double Seconds(TimedPhase phase) => (double)Interlocked.Read(ref _ticks[(int)phase]) / Stopwatch.Frequency;

    /// <summary>
    /// Times a named stage (wall clock, and the calling thread's CPU time) until the returned handle is disposed on the
    /// same thread; stages may nest and run on several threads at once. While it runs the stage is listed by
    /// <see cref="ActiveStages"/>, so a memory sampler can tell which stage a peak belongs to.
    /// </summary>
    public IDisposable Stage(string name)
    {
        _active.AddOrUpdate(name, 1, (_, n) => n + 1);
        return new StageHandle(this, name, Stopwatch.GetTimestamp(), ThreadCpuSeconds());
    }

    /// <summary>Wall seconds per stage name, summed over its runs.</summary>
    public IReadOnlyDictionary<string, double> StageSeconds() =>
        _stageTicks.ToDictionary(e => e.Key, e => (double)e.Value / Stopwatch.Frequency, StringComparer.Ordinal);

    /// <summary>
    /// CPU seconds of the thread that ran each stage (Linux; NaN elsewhere): the stage's whole CPU time when libtorch runs
    /// one intra-op thread there (the scan's lanes, the adversarial walks), a lower bound otherwise.
    /// </summary>
    public IReadOnlyDictionary<string, double> StageCpuSeconds() =>
        _stageCpu.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);

    /// <summary>User + system time of the calling thread from /proc/thread-self/stat (clock ticks of 10 ms); NaN when unavailable.</summary>
    private static double ThreadCpuSeconds()
    {
        const string Stat = "/proc/thread-self/stat";
        if (!OperatingSystem.IsLinux() || !File.Exists(Stat))
        {
            return double.NaN;
        }

        string text = File.ReadAllText(Stat);
        // Fields after the command name (which may hold spaces) start at the last ')'; utime and stime are fields 14 and 15.
        string[] fields = text[(text.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture)) / 100.0;
    }

    /// <summary>The stages running now.</summary>
    public IReadOnlyList<string> ActiveStages() => [.. _active.Where(e => e.Value > 0).Select(e => e.Key)];

    /// <summary>Forgets everything recorded.</summary>
    public void Reset()
    {
        for (int i = 0; i < _ticks.Length; i++)
        {
            Interlocked.Exchange(ref _ticks[i], 0);
        }

        _stageTicks.Clear();
        _stageCpu.Clear();
    }

    private sealed class StageHandle(ProbeTimings owner, string name, long start, double cpuStart) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner._stageTicks.AddOrUpdate(name, Stopwatch.GetTimestamp() - start, (_, t) => t + Stopwatch.GetTimestamp() - start);
                double cpu = ThreadCpuSeconds() - cpuStart;
                owner._stageCpu.AddOrUpdate(name, cpu, (_, c) => c + cpu);
                owner._active.AddOrUpdate(name, 0, (_, n) => n - 1);
            }
        }
    }
}
