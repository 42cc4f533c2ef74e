using System.Data.Common;
using System.Globalization;
using Audit.Api.Infrastructure.Persistence;
using Dapper;

namespace Audit.Api.Features.Transparency;

/// <summary>
/// The log in the service's database, shared by every process that uses it. An append is one transaction that first
/// locks the single <c>transparency_log_state</c> row (<c>SELECT ... FOR UPDATE</c> on PostgreSQL; on SQLite the
/// transaction itself begins IMMEDIATE, which takes the database's write lock), checks that the stored root matches
/// the stored entries, then writes the entry at the next index, the new size and root, and the new tree head. So
/// appends from all processes happen one after another, an index is never handed out twice, and every tree head
/// extends the previous one.
/// </summary>
public sealed class DatabaseTransparencyLogStore(IDatabase database, TimeProvider time) : ITransparencyLogStore, IDisposable
{
    private const int MaxEntryBytes = 1 << 20;

    // Appends of this process queue here rather than on the database lock (SQLite polls for a busy lock).
    private readonly SemaphoreSlim _local = new(1, 1);

    public async Task<long> AppendAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken) =>
        (await AppendReservedAsync((_, _) => Task.FromResult((entry.ToArray(), 0)), cancellationToken)).Index;

    public async Task<(long Index, byte[] Entry, T State)> AppendReservedAsync<T>(
        Func<long, CancellationToken, Task<(byte[] Entry, T State)>> build, CancellationToken cancellationToken)
    {
        await _local.WaitAsync(cancellationToken);
        try
        {
            await using DbConnection connection = await database.OpenAsync(cancellationToken);
            await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            List<byte[]> leaves = await LockAndCheckAsync(connection, transaction, cancellationToken);
            long index = leaves.Count;
            var (entry, state) = await build(index, cancellationToken);
            if (entry.Length is 0 or > MaxEntryBytes)
            {
                throw new ArgumentException($"A log entry must hold 1 to {MaxEntryBytes} bytes.", nameof(build));
            }

            await WriteAsync(connection, transaction, index, [entry], leaves, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return (index, entry, state);
        }
        finally
        {
            _local.Release();
        }
    }

    public Task<IReadOnlyList<byte[]>> ReadAllAsync(CancellationToken cancellationToken) => ReadFromAsync(0, cancellationToken);

    public async Task<IReadOnlyList<byte[]>> ReadFromAsync(long start, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(long Index, string Entry)>(new CommandDefinition(
            "SELECT log_index, entry FROM transparency_log_entries WHERE log_index >= @start ORDER BY log_index",
            new { start }, cancellationToken: cancellationToken));
        var entries = new List<byte[]>();
        foreach (var (index, entry) in rows)
        {
            if (index != start + entries.Count)
            {
                throw new TransparencyLogCorruptException($"The transparency log has no entry {start + entries.Count}.");
            }

            entries.Add(Convert.FromBase64String(entry));
        }

        return entries;
    }

    /// <summary>
    /// Appends <paramref name="entries"/> of an older data directory's log file to an empty log, in one transaction.
    /// When the log is not empty, returns whether it already begins with exactly these entries (an earlier import).
    /// </summary>
    public async Task<bool> ImportAsync(IReadOnlyList<byte[]> entries, CancellationToken cancellationToken)
    {
        await _local.WaitAsync(cancellationToken);
        try
        {
            await using DbConnection connection = await database.OpenAsync(cancellationToken);
            await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            List<byte[]> leaves = await LockAndCheckAsync(connection, transaction, cancellationToken);
            if (leaves.Count > 0)
            {
                await transaction.RollbackAsync(cancellationToken);
                return leaves.Count >= entries.Count
                    && entries.Select((e, i) => MerkleTree.HashLeaf(e).AsSpan().SequenceEqual(leaves[i])).All(same => same);
            }

            await WriteAsync(connection, transaction, 0, entries, leaves, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            return true;
        }
        finally
        {
            _local.Release();
        }
    }

    public void Dispose() => _local.Dispose();

    private async Task<List<byte[]>> LockAndCheckAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        string lockRow = database.Provider == DatabaseProvider.PostgreSQL ? " FOR UPDATE" : "";
        var (size, root) = await connection.QuerySingleAsync<(long Size, string Root)>(new CommandDefinition(
            "SELECT tree_size, root_hash FROM transparency_log_state WHERE id = 1" + lockRow, transaction: transaction, cancellationToken: cancellationToken));
        List<byte[]> leaves = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT leaf_hash FROM transparency_log_entries ORDER BY log_index", transaction: transaction, cancellationToken: cancellationToken)))
            .Select(Convert.FromHexString).ToList();
        if (leaves.Count != size || !string.Equals(Convert.ToHexStringLower(MerkleTree.RootHash(leaves, 0, leaves.Count)), root, StringComparison.Ordinal))
        {
            throw new TransparencyLogCorruptException(
                $"The transparency log's stored tree head (size {size}) does not match its {leaves.Count} stored entries.");
        }

        return leaves;
    }

    private async Task WriteAsync(
        DbConnection connection, DbTransaction transaction, long first, IReadOnlyList<byte[]> entries, List<byte[]> leaves, CancellationToken cancellationToken)
    {
        string at = time.GetUtcNow().ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
        long before = leaves.Count;
        var rows = entries.Select((entry, i) =>
        {
            byte[] leaf = MerkleTree.HashLeaf(entry);
            leaves.Add(leaf);
            return new { index = first + i, entry = Convert.ToBase64String(entry), leaf = Convert.ToHexStringLower(leaf), at };
        }).ToList();
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO transparency_log_entries (log_index, entry, leaf_hash, appended_at) VALUES (@index, @entry, @leaf, @at)",
            rows, transaction, cancellationToken: cancellationToken));
        string root = Convert.ToHexStringLower(MerkleTree.RootHash(leaves, 0, leaves.Count));
        int updated = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE transparency_log_state SET tree_size = @size, root_hash = @root WHERE id = 1 AND tree_size = @before",
            new { size = (long)leaves.Count, root, before }, transaction, cancellationToken: cancellationToken));
        if (updated != 1)
        {
            throw new InvalidOperationException("The transparency log changed during an append that held its lock.");
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO transparency_tree_heads (tree_size, root_hash, recorded_at) VALUES (@size, @root, @at)",
            new { size = (long)leaves.Count, root, at }, transaction, cancellationToken: cancellationToken));
    }
}
