namespace Audit.Evaluators.Sessions;

/// <summary>
/// Results several probes of one audit share (the trigger scan, recovered triggers), computed on first request and
/// kept until the audit's session ends; disposable values are disposed with the cache. Nothing outlives the audit,
/// so two audits (or two tenants) never see each other's results.
/// </summary>
public sealed class SessionCache : IDisposable
{
    private readonly Dictionary<string, object> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>
    /// The value stored under <paramref name="key"/>, created by <paramref name="factory"/> on first request. A factory
    /// that throws (cancellation included) stores nothing, so the next request tries again. Concurrent requests for a
    /// key wait for one computation.
    /// </summary>
    /// <param name="key">Names the result and every setting it depends on.</param>
    /// <param name="factory">Computes the value; runs at most once per key while it succeeds.</param>
    /// <param name="created">Whether this call computed the value (false when it was reused).</param>
    /// <exception cref="InvalidOperationException">The key holds a value of another type.</exception>
    public T GetOrCreate<T>(string key, Func<T> factory, out bool created)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(factory);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_entries.TryGetValue(key, out object? known))
            {
                created = false;
                return known as T ?? throw new InvalidOperationException($"The session's entry '{key}' is a {known.GetType().Name}, not a {typeof(T).Name}.");
            }

            T value = factory();
            _entries[key] = value;
            created = true;
            return value;
        }
    }

    /// <inheritdoc cref="GetOrCreate{T}(string, Func{T}, out bool)"/>
    public T GetOrCreate<T>(string key, Func<T> factory)
        where T : class => GetOrCreate(key, factory, out _);

    /// <summary>Disposes every disposable value and forgets all of them.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (IDisposable value in _entries.Values.OfType<IDisposable>())
            {
                value.Dispose();
            }

            _entries.Clear();
        }
    }
}
