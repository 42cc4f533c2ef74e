using System.Data.Common;
using System.Text.Json.Nodes;
using Dapper;
using Microsoft.Data.Sqlite;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// A row of the artifacts table. <see cref="Format"/> and <see cref="SummaryJson"/> are what the upload found when it
/// inspected the file (the model inventory, or the dataset's format and tensors): later steps read them from here
/// instead of parsing the file again.
/// </summary>
public sealed record ArtifactRow(
    string Id,
    string TenantId,
    string Kind,
    string? Name,
    string Sha256,
    long SizeBytes,
    string Format,
    string? SummaryJson,
    string CreatedAt)
{
    public const string Columns =
        "id AS Id, tenant_id AS TenantId, kind AS Kind, name AS Name, sha256 AS Sha256, size_bytes AS SizeBytes, format AS Format, summary_json AS SummaryJson, created_at AS CreatedAt";

    /// <summary>The stored inspection summary, parsed; null for rows stored without one.</summary>
    public JsonNode? Summary => SummaryJson is null ? null : JsonNode.Parse(SummaryJson);
}

/// <summary>Artifact rows (the bytes themselves live in the content-addressed <see cref="Artifacts.ArtifactStore"/>).</summary>
public sealed class ArtifactRepository
{
    private readonly IDatabase _database;

    public ArtifactRepository(IDatabase database)
    {
        _database = database;
    }

    /// <summary>One artifact of the tenant; another tenant's looks exactly like a missing one.</summary>
    public async Task<ArtifactRow?> FindAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ArtifactRow>(new CommandDefinition(
            $"SELECT {ArtifactRow.Columns} FROM artifacts WHERE id = @id AND tenant_id = @tenant",
            new { id, tenant },
            cancellationToken: cancellationToken));
    }

    /// <summary>The tenant's artifacts among <paramref name="ids"/>, by id.</summary>
    public async Task<IReadOnlyDictionary<string, ArtifactRow>> FindManyAsync(string tenant, IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        IEnumerable<ArtifactRow> rows = await connection.QueryAsync<ArtifactRow>(new CommandDefinition(
            $"SELECT {ArtifactRow.Columns} FROM artifacts WHERE tenant_id = @tenant AND id IN @ids",
            new { tenant, ids = ids.ToArray() },
            cancellationToken: cancellationToken));
        return rows.ToDictionary(r => r.Id);
    }

    /// <summary>Whether any tenant already stored these bytes (then a rejected upload must not delete the blob).</summary>
    public async Task<bool> AnyWithContentAsync(string sha256, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM artifacts WHERE sha256 = @sha256", new { sha256 }, cancellationToken: cancellationToken)) > 0;
    }

    public async Task InsertAsync(ArtifactRow row, string createdBy, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO artifacts (id, tenant_id, kind, name, sha256, size_bytes, format, summary_json, created_by, created_at)
            VALUES (@Id, @TenantId, @Kind, @Name, @Sha256, @SizeBytes, @Format, @SummaryJson, @createdBy, @CreatedAt)
            """,
            new { row.Id, row.TenantId, row.Kind, row.Name, row.Sha256, row.SizeBytes, row.Format, row.SummaryJson, createdBy, row.CreatedAt },
            cancellationToken: cancellationToken));
    }

    /// <summary>A page of the tenant's artifacts, newest first.</summary>
    public async Task<(IReadOnlyList<ArtifactRow> Rows, long Total)> ListAsync(string tenant, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        var args = new { tenant, limit = pageSize, offset = (page - 1) * pageSize };
        long total = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM artifacts WHERE tenant_id = @tenant", args, cancellationToken: cancellationToken));
        IEnumerable<ArtifactRow> rows = await connection.QueryAsync<ArtifactRow>(new CommandDefinition(
            $"SELECT {ArtifactRow.Columns} FROM artifacts WHERE tenant_id = @tenant ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset",
            args, cancellationToken: cancellationToken));
        return (rows.ToList(), total);
    }

    /// <summary>
    /// Deletes the tenant's artifact row unless an audit (and so its report) refers to it; one statement, so an audit
    /// submitted at the same moment either sees the row or the row stays.
    /// </summary>
    public async Task<bool> DeleteUnreferencedAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            """
            DELETE FROM artifacts WHERE id = @id AND tenant_id = @tenant
              AND NOT EXISTS (SELECT 1 FROM audits WHERE model_artifact_id = @id OR dataset_artifact_id = @id)
            """,
            new { id, tenant }, cancellationToken: cancellationToken)) == 1;
    }

    /// <summary>
    /// Records the row and, in the same transaction under the database's content lock, runs
    /// <paramref name="ensureContent"/> (which puts the bytes back if a delete removed them after the upload stored
    /// them). Serialised with <see cref="DeleteContentIfUnusedAsync"/> across processes: a delete either sees this row,
    /// or finished before it and the bytes are stored again here. If <paramref name="ensureContent"/> throws, the row
    /// is not recorded.
    /// </summary>
    public Task InsertWithContentAsync(ArtifactRow row, string createdBy, Func<Task> ensureContent, CancellationToken cancellationToken) =>
        WithContentLockAsync(row.Sha256, async (connection, transaction) =>
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO artifacts (id, tenant_id, kind, name, sha256, size_bytes, format, summary_json, created_by, created_at)
                VALUES (@Id, @TenantId, @Kind, @Name, @Sha256, @SizeBytes, @Format, @SummaryJson, @createdBy, @CreatedAt)
                """,
                new { row.Id, row.TenantId, row.Kind, row.Name, row.Sha256, row.SizeBytes, row.Format, row.SummaryJson, createdBy, row.CreatedAt },
                transaction,
                cancellationToken: cancellationToken));
            await ensureContent();
            return true;
        }, cancellationToken);

    /// <summary>
    /// Runs <paramref name="deleteContent"/> when no artifact row (any tenant) and no evidence refers to the bytes, with
    /// the check and the delete under the database's content lock (see <see cref="InsertWithContentAsync"/>); true when
    /// it ran.
    /// </summary>
    public Task<bool> DeleteContentIfUnusedAsync(string sha256, Func<Task> deleteContent, CancellationToken cancellationToken) =>
        WithContentLockAsync(sha256, async (connection, transaction) =>
        {
            bool inUse = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT (SELECT COUNT(*) FROM artifacts WHERE sha256 = @sha256) + (SELECT COUNT(*) FROM evidence WHERE sha256 = @sha256)",
                new { sha256 }, transaction, cancellationToken: cancellationToken)) > 0;
            if (!inUse)
            {
                await deleteContent();
            }

            return !inUse;
        }, cancellationToken);

    /// <summary>
    /// A transaction that excludes every other content-locked transaction on the same bytes, in any process: SQLite's
    /// write lock (BEGIN IMMEDIATE) on the embedded database; a transaction-scoped advisory lock on the content hash
    /// elsewhere (PostgreSQL). Held for a row write and one or two store calls (HEAD, DELETE; rarely a PUT).
    /// </summary>
    private async Task<T> WithContentLockAsync<T>(string sha256, Func<DbConnection, DbTransaction, Task<T>> body, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await using DbTransaction transaction = connection is SqliteConnection sqlite
            ? sqlite.BeginTransaction(deferred: false)
            : await connection.BeginTransactionAsync(cancellationToken);
        if (connection is not SqliteConnection)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "SELECT pg_advisory_xact_lock(hashtextextended(@sha256, 0))", new { sha256 }, transaction, cancellationToken: cancellationToken));
        }

        T result = await body(connection, transaction);
        await transaction.CommitAsync(cancellationToken);
        return result;
    }

    /// <summary>Whether any artifact row (any tenant) or evidence file still needs these bytes.</summary>
    public async Task<bool> ContentInUseAsync(string sha256, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT (SELECT COUNT(*) FROM artifacts WHERE sha256 = @sha256) + (SELECT COUNT(*) FROM evidence WHERE sha256 = @sha256)",
            new { sha256 }, cancellationToken: cancellationToken)) > 0;
    }
}
