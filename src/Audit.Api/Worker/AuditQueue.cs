using System.Data.Common;
using System.Text.Json;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Dapper;

namespace Audit.Api.Worker;

/// <summary>
/// The database as a work queue with leases. A worker claims one audit at a time with a conditional UPDATE,
/// so two workers can never hold the same audit; it renews the lease while it runs, and an audit whose lease
/// lapsed (its worker died) is claimed again from the start.
/// </summary>
public sealed class AuditQueue
{
    private readonly IDatabase _database;

    public AuditQueue(IDatabase database)
    {
        _database = database;
    }

    /// <summary>Claims the oldest queued audit, or a running one whose lease expired. Null when there is none.</summary>
    public async Task<AuditRow?> TryClaimAsync(string worker, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        string nowText = now.ToString("O");
        for (int attempt = 0; attempt < 3; attempt++)
        {
            string? candidate = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                """
                SELECT id FROM audits
                WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < @now)
                ORDER BY created_at, id LIMIT 1
                """,
                new { now = nowText }, cancellationToken: cancellationToken));
            if (candidate is null)
            {
                return null;
            }

            // The WHERE repeats the claimability test: of two workers racing for one audit, one UPDATE matches.
            int claimed = await connection.ExecuteAsync(new CommandDefinition(
                """
                UPDATE audits
                SET status = 'running', lease_owner = @worker, lease_expires_at = @expires, attempts = attempts + 1,
                    started_at = COALESCE(started_at, @now), progress = 0
                WHERE id = @id AND (status = 'queued' OR (status = 'running' AND lease_expires_at < @now))
                """,
                new { id = candidate, worker, now = nowText, expires = (now + lease).ToString("O") },
                cancellationToken: cancellationToken));
            if (claimed == 1)
            {
                // A crashed attempt may have left partial results: the new attempt starts clean.
                await connection.ExecuteAsync(new CommandDefinition(
                    "DELETE FROM findings WHERE audit_id = @id; DELETE FROM control_results WHERE audit_id = @id;",
                    new { id = candidate }, cancellationToken: cancellationToken));
                return await connection.QuerySingleAsync<AuditRow>(new CommandDefinition(
                    $"SELECT {AuditRow.Columns} FROM audits WHERE id = @id", new { id = candidate }, cancellationToken: cancellationToken));
            }
        }

        return null;
    }

    /// <summary>Extends the lease and records progress. False when the lease was lost; true with the cancel flag.</summary>
    public async Task<(bool StillOwned, bool CancelRequested)> HeartbeatAsync(
        string id, string worker, double progress, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        int updated = await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE audits SET progress = @progress, lease_expires_at = @expires WHERE id = @id AND lease_owner = @worker AND status = 'running'",
            new { id, worker, progress, expires = (now + lease).ToString("O") }, cancellationToken: cancellationToken));
        if (updated == 0)
        {
            return (false, false);
        }

        long cancel = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT cancel_requested FROM audits WHERE id = @id", new { id }, cancellationToken: cancellationToken));
        return (true, cancel == 1);
    }

    public Task SetDeviceAsync(string id, string device, CancellationToken cancellationToken) =>
        ExecuteAsync("UPDATE audits SET device = @device WHERE id = @id", new { id, device }, cancellationToken);

    /// <summary>Records results and the terminal status in one transaction, only if this worker still holds the lease.</summary>
    public async Task<bool> CompleteAsync(
        string id,
        string worker,
        string status,
        Verdict? verdict,
        string? error,
        IReadOnlyList<ControlResult> controls,
        IReadOnlyList<Finding> findings,
        DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
        int updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE audits SET status = @status, verdict = @verdict, error = @error, finished_at = @now,
                progress = CASE WHEN @status = 'succeeded' THEN 1 ELSE progress END, lease_owner = NULL, lease_expires_at = NULL
            WHERE id = @id AND lease_owner = @worker AND status = 'running'
            """,
            new { id, worker, status, verdict = verdict?.ToString().ToLowerInvariant(), error, now = now.ToString("O") },
            transaction, cancellationToken: cancellationToken));
        if (updated == 0)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }

        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO control_results (audit_id, control_id, verdict, reason) VALUES (@id, @ControlId, @verdict, @Reason)",
            controls.Select(c => new { id, c.ControlId, verdict = c.Verdict.ToString().ToLowerInvariant(), c.Reason }),
            transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO findings (audit_id, seq, control_id, probe, verdict, score, summary, details_json) VALUES (@id, @seq, @ControlId, @Probe, @verdict, @Score, @Summary, @details)",
            findings.Select((f, i) => new
            {
                id, seq = i, f.ControlId, f.Probe, verdict = f.Verdict.ToString().ToLowerInvariant(), f.Score, f.Summary,
                details = f.Details.ToJsonString(),
            }),
            transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public static Profile ProfileOf(AuditRow row) => JsonSerializer.Deserialize<Profile>(row.ProfileJson, ProfileHash.CanonicalJson)!;

    private async Task ExecuteAsync(string sql, object args, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: cancellationToken));
    }
}
