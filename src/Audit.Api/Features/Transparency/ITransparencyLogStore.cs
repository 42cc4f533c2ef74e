namespace Audit.Api.Features.Transparency;

/// <summary>
/// Durable, append-only storage of log entries. An append is all-or-nothing and survives a restart; nothing is ever
/// rewritten or removed. A SQL table with an auto-numbered key (inserted in one transaction) satisfies this as well
/// as <see cref="FileTransparencyLogStore"/>.
/// </summary>
public interface ITransparencyLogStore
{
    /// <summary>Appends an entry and returns its zero-based index.</summary>
    Task<long> AppendAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken);

    /// <summary>Every entry in append order.</summary>
    Task<IReadOnlyList<byte[]>> ReadAllAsync(CancellationToken cancellationToken);
}

/// <summary>The stored log is damaged somewhere other than a torn final append.</summary>
public sealed class TransparencyLogCorruptException(string message) : Exception(message);
