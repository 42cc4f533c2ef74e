namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>
/// A lock file in the fixture cache: test assemblies run in parallel processes, and two of them training the
/// same fixture on two cores would double a cold run's time. The second waits, then finds the cache warm.
/// Re-entrant on the holding thread (a fixture may build a dataset while holding it).
/// </summary>
internal static class FixtureLock
{
    private static readonly object ProcessGate = new();
    private static FileStream? _held;
    private static int _depth;

    public static IDisposable Acquire(string directory)
    {
        Monitor.Enter(ProcessGate);
        if (_depth++ == 0)
        {
            _held = Open(Path.Combine(directory, ".lock"));
        }

        return new Release();
    }

    private static FileStream Open(string path)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (attempt < 36_000)
            {
                Thread.Sleep(100);
            }
        }
    }

    private sealed class Release : IDisposable
    {
        private bool _released;

        public void Dispose()
        {
            if (_released)
            {
                return;
            }

            _released = true;
            if (--_depth == 0)
            {
                _held?.Dispose();
                _held = null;
            }

            Monitor.Exit(ProcessGate);
        }
    }
}
