using System.Data.Common;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;
using Dapper;

namespace Audit.Api.Features.Audits;

/// <summary>Reads and writes audits; shared by the audit features and the worker.</summary>
public sealed class AuditStore
{
    private readonly IDatabase _database;

    public AuditStore(IDatabase database)
    {
        _database = database;
    }

    public async Task<AuditRow?> FindAsync(string? tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE id = @id AND (@tenant IS NULL OR tenant_id = @tenant)",
            new { id, tenant },
            cancellationToken: cancellationToken));
    }

    public async Task<AuditResponse?> LoadAsync(string? tenant, string id, CancellationToken cancellationToken)
    {
        AuditRow? row = await FindAsync(tenant, id, cancellationToken);
        if (row is null)
        {
            return null;
        }

        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        List<ControlResultRow> controls = (await connection.QueryAsync<ControlResultRow>(new CommandDefinition(
            "SELECT control_id AS ControlId, verdict AS Verdict, reason AS Reason FROM control_results WHERE audit_id = @id ORDER BY control_id",
            new { id }, cancellationToken: cancellationToken))).ToList();
        List<FindingRow> findings = (await connection.QueryAsync<FindingRow>(new CommandDefinition(
            "SELECT seq AS Seq, control_id AS ControlId, probe AS Probe, verdict AS Verdict, score AS Score, summary AS Summary, details_json AS DetailsJson FROM findings WHERE audit_id = @id ORDER BY seq",
            new { id }, cancellationToken: cancellationToken))).ToList();
        return AuditResponse.From(row, controls, findings);
    }

    public async Task<AuditRow?> FindByIdempotencyKeyAsync(string tenant, string key, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE tenant_id = @tenant AND idempotency_key = @key",
            new { tenant, key }, cancellationToken: cancellationToken));
    }

    /// <summary>Inserts a queued audit; false when the idempotency key was taken concurrently.</summary>
    public async Task<bool> TryInsertAsync(AuditRow row, string submittedBy, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO audits (id, tenant_id, model_artifact_id, dataset_artifact_id, profile_id, profile_version, profile_hash,
                    profile_json, status, progress, seed, idempotency_key, request_hash, submitted_by, created_at, attempts, cancel_requested)
                VALUES (@Id, @TenantId, @ModelArtifactId, @DatasetArtifactId, @ProfileId, @ProfileVersion, @ProfileHash,
                    @ProfileJson, @Status, 0, @Seed, @IdempotencyKey, @RequestHash, @submittedBy, @CreatedAt, 0, 0)
                """,
                new
                {
                    row.Id, row.TenantId, row.ModelArtifactId, row.DatasetArtifactId, row.ProfileId, row.ProfileVersion, row.ProfileHash,
                    row.ProfileJson, row.Status, row.Seed, row.IdempotencyKey, row.RequestHash, submittedBy, row.CreatedAt,
                },
                cancellationToken: cancellationToken));
            return true;
        }
        catch (DbException) when (row.IdempotencyKey is not null)
        {
            return false;
        }
    }

    public async Task<(IReadOnlyList<AuditRow> Rows, long Total)> ListAsync(string tenant, string? status, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        var args = new { tenant, status, limit = pageSize, offset = (page - 1) * pageSize };
        long total = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM audits WHERE tenant_id = @tenant AND (@status IS NULL OR status = @status)", args, cancellationToken: cancellationToken));
        IEnumerable<AuditRow> rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE tenant_id = @tenant AND (@status IS NULL OR status = @status) ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset",
            args, cancellationToken: cancellationToken));
        return (rows.ToList(), total);
    }

    /// <summary>
    /// Cancels a queued audit at once, or asks the worker to stop a running one. Returns the status after
    /// the request, or null when the audit had already finished.
    /// </summary>
    public async Task<AuditStatus?> RequestCancelAsync(string tenant, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        int queued = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE audits SET status = 'cancelled', finished_at = @now, cancel_requested = 1 WHERE id = @id AND tenant_id = @tenant AND status = 'queued'",
            new { id, tenant, now = now.ToString("O") }, cancellationToken: cancellationToken));
        if (queued == 1)
        {
            return AuditStatus.Cancelled;
        }

        int running = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE audits SET cancel_requested = 1 WHERE id = @id AND tenant_id = @tenant AND status = 'running'",
            new { id, tenant }, cancellationToken: cancellationToken));
        return running == 1 ? AuditStatus.Running : null;
    }

    public async Task<IReadOnlyList<(string Id, string Sha256)>> ArtifactHashesAsync(string tenant, IEnumerable<string> ids, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        IEnumerable<(string, string)> rows = await connection.QueryAsync<(string, string)>(new CommandDefinition(
            "SELECT id, sha256 FROM artifacts WHERE tenant_id = @tenant AND id IN @ids", new { tenant, ids = ids.ToArray() }, cancellationToken: cancellationToken));
        return rows.ToList();
    }
}
