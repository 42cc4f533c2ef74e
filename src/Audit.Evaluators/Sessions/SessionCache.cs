namespace Audit.Evaluators.Sessions;

/// <summary>
/// Results several probes of one audit share (the trigger scan, the distilled reference, representation pools),
/// computed on first request and kept until the audit's session ends; disposable values are disposed with the cache.
/// Nothing outlives the audit, so two audits (or two tenants) never see each other's results.
/// </summary>
/// <remarks>
/// Each key is computed under its own lock, not the cache's: a computation may request other keys, from its own thread
/// or from threads it starts (the trigger scan's lanes store the distilled reference while the scan's own entry is
/// still being computed), and probes running side by side wait only for the results they share.
/// </remarks>
public sealed class SessionCache : IDisposable
{
    private readonly Dictionary<string, Lazy<object>> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private bool _disposed;

    /// <summary>Work probes of this audit offer to have done early, by lanes that would otherwise wait (<see cref="IdleWork"/>).</summary>
    public IdleWork Idle { get; } = new();

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
        Lazy<object> entry;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            created = !_entries.TryGetValue(key, out Lazy<object>? known);
            entry = known ?? new Lazy<object>(() => factory(), LazyThreadSafetyMode.ExecutionAndPublication);
            if (created)
            {
                _entries[key] = entry;
            }
        }

        object value;
        try
        {
            value = entry.Value;
        }
        catch
        {
            // The failed computation is forgotten (Lazy would replay its exception to every later caller).
            lock (_gate)
            {
                if (_entries.TryGetValue(key, out Lazy<object>? stored) && ReferenceEquals(stored, entry))
                {
                    _entries.Remove(key);
                }
            }

            throw;
        }

        lock (_gate)
        {
            // Disposed while this value was computed: nobody else will release it.
            if (_disposed && created)
            {
                (value as IDisposable)?.Dispose();
                ObjectDisposedException.ThrowIf(_disposed, this);
            }
        }

        return value as T ?? throw new InvalidOperationException($"The session's entry '{key}' is a {value.GetType().Name}, not a {typeof(T).Name}.");
    }

    /// <summary>Whether <paramref name="key"/> holds a value or a computation of one under way.</summary>
    public bool Contains(string key)
    {
        lock (_gate)
        {
            return _entries.ContainsKey(key);
        }
    }

    /// <summary>
    /// The value under <paramref name="key"/> if it has been computed; never computes one and never waits for a
    /// computation under way (an idle step uses what exists and otherwise leaves the work to its probe).
    /// </summary>
    /// <param name="key">Names the result.</param>
    /// <param name="value">The computed value, or null.</param>
    /// <returns>Whether a computed value of type <typeparamref name="T"/> is stored under the key.</returns>
    public bool TryGetComputed<T>(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out T? value)
        where T : class
    {
        lock (_gate)
        {
            value = !_disposed && _entries.TryGetValue(key, out Lazy<object>? entry) && entry.IsValueCreated ? entry.Value as T : null;
            return value is not null;
        }
    }

    /// <inheritdoc cref="GetOrCreate{T}(string, Func{T}, out bool)"/>
    public T GetOrCreate<T>(string key, Func<T> factory)
        where T : class => GetOrCreate(key, factory, out _);

    /// <summary>Disposes every computed disposable value and forgets all of them.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (Lazy<object> entry in _entries.Values.Where(e => e.IsValueCreated))
            {
                (entry.Value as IDisposable)?.Dispose();
            }

            _entries.Clear();
        }
    }
}
