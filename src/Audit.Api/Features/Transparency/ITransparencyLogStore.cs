namespace Audit.Api.Features.Transparency;

/// <summary>
/// Durable, append-only storage of log entries. An append is all-or-nothing and survives a restart; nothing is ever
/// rewritten or removed. <see cref="DatabaseTransparencyLogStore"/> (the service's store, shared by all processes on
/// one database) and <see cref="FileTransparencyLogStore"/> (one process, one data directory) both satisfy this.
/// </summary>
public interface ITransparencyLogStore
{
    /// <summary>Appends an entry and returns its zero-based index.</summary>
    Task<long> AppendAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken);

    /// <summary>
    /// Reserves the next index, lets <paramref name="build"/> make the entry knowing it, and appends it there; no other
    /// append (from any process sharing the store) can take that index meanwhile.
    /// </summary>
    Task<(long Index, byte[] Entry, T State)> AppendReservedAsync<T>(
        Func<long, CancellationToken, Task<(byte[] Entry, T State)>> build, CancellationToken cancellationToken);

    /// <summary>Every entry in append order.</summary>
    Task<IReadOnlyList<byte[]>> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>The entries from index <paramref name="start"/> on, in append order.</summary>
    Task<IReadOnlyList<byte[]>> ReadFromAsync(long start, CancellationToken cancellationToken);
}

/// <summary>The stored log is damaged somewhere other than a torn final append.</summary>
public sealed class TransparencyLogCorruptException(string message) : Exception(message);
