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

    /// <summary>Adds <paramref name="stopwatchTicks"/> (<see cref="Stopwatch.GetTimestamp"/> units) to <paramref name="phase"/>.</summary>
    public void Add(TimedPhase phase, long stopwatchTicks) => Interlocked.Add(ref _ticks[(int)phase], stopwatchTicks);

    /// <summary>Seconds recorded for <paramref name="phase"/> since construction or <see cref="Reset"/>.</summary>
    public double Seconds(TimedPhase phase) => (double)Interlocked.Read(ref _ticks[(int)phase]) / Stopwatch.Frequency;

    /// <summary>Forgets everything recorded.</summary>
    public void Reset()
    {
        for (int i = 0; i < _ticks.Length; i++)
        {
            Interlocked.Exchange(ref _ticks[i], 0);
        }
    }
}
