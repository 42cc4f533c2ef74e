using System.Data.Common;
using System.Globalization;
using Audit.Domain.Audits;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Api.Infrastructure.Telemetry;
using Dapper;
using Microsoft.Extensions.Options;
using AuditAggregate = Audit.Domain.Audits.Audit;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Stores audits, their results and their evidence. Status changes are decided by the <see cref="AuditAggregate"/>:
/// the repository reads it, lets it decide, and writes the result with a conditional UPDATE on the version it read,
/// so of two writers racing for one audit (two workers claiming it, a heartbeat and a cancel request) exactly one
/// wins and the other decides again on fresh state. That also makes the database a work queue with leases: a worker
/// claims one audit at a time, renews the lease while it runs, and an audit whose lease lapsed is claimed again.
/// </summary>
public sealed class AuditRepository
{
    private const int Retries = 5;
    // Oldest first; the lease comparison works on ISO-8601 UTC text, which sorts like the instants it names.
    private const string ClaimCandidateSql =
        "SELECT id FROM audits WHERE status = @queued OR (status = @running AND lease_expires_at < @now) ORDER BY created_at, id LIMIT 1";

    private const string StateColumns =
        "id, tenant_id, status, attempts, lease_owner, lease_expires_at, cancel_requested, progress, verdict, error, created_at, started_at, finished_at, version";

    private readonly IDatabase _database;
    private readonly int _maxAttempts;
    private readonly AuditTelemetry _telemetry;
    private readonly TimeProvider _time;

    public AuditRepository(IDatabase database, IOptions<AuditOptions> options, AuditTelemetry telemetry, TimeProvider time)
    {
        _database = database;
        _maxAttempts = options.Value.Worker.MaxAttempts;
        _telemetry = telemetry;
        _time = time;
    }

    public async Task<AuditRow?> FindAsync(string? tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE id = @id AND (@tenant IS NULL OR tenant_id = @tenant)",
            new { id, tenant },
            cancellationToken: cancellationToken));
    }

    /// <summary>The audit's control results and findings, in recorded order.</summary>
    public async Task<(IReadOnlyList<ControlResultRow> Controls, IReadOnlyList<FindingRow> Findings)> ResultsAsync(string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        List<ControlResultRow> controls = (await connection.QueryAsync<ControlResultRow>(new CommandDefinition(
            "SELECT control_id AS ControlId, verdict AS Verdict, reason AS Reason FROM control_results WHERE audit_id = @id ORDER BY control_id",
            new { id }, cancellationToken: cancellationToken))).ToList();
        List<FindingRow> findings = (await connection.QueryAsync<FindingRow>(new CommandDefinition(
            "SELECT seq AS Seq, control_id AS ControlId, probe AS Probe, verdict AS Verdict, score AS Score, summary AS Summary, details_json AS DetailsJson FROM findings WHERE audit_id = @id ORDER BY seq",
            new { id }, cancellationToken: cancellationToken))).ToList();
        return (controls, findings);
    }

    public async Task<AuditRow?> FindByIdempotencyKeyAsync(string tenant, string key, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE tenant_id = @tenant AND idempotency_key = @key",
            new { tenant, key }, cancellationToken: cancellationToken));
    }

    /// <summary>Inserts a submitted audit; false when the idempotency key was taken concurrently.</summary>
    public async Task<bool> TryInsertAsync(AuditAggregate audit, AuditRow row, string submittedBy, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(
                """
                INSERT INTO audits (id, tenant_id, model_artifact_id, dataset_artifact_id, profile_id, profile_version, profile_hash,
                    profile_json, status, progress, seed, idempotency_key, request_hash, submitted_by, created_at, attempts, cancel_requested, version)
                VALUES (@Id, @TenantId, @ModelArtifactId, @DatasetArtifactId, @ProfileId, @ProfileVersion, @ProfileHash,
                    @ProfileJson, @status, 0, @Seed, @IdempotencyKey, @RequestHash, @submittedBy, @createdAt, 0, 0, 0)
                """,
                new
                {
                    row.Id, row.TenantId, row.ModelArtifactId, row.DatasetArtifactId, row.ProfileId, row.ProfileVersion, row.ProfileHash,
                    row.ProfileJson, status = audit.Status.ToWire(), row.Seed, row.IdempotencyKey, row.RequestHash, submittedBy,
                    createdAt = Text(audit.CreatedAt),
                },
                cancellationToken: cancellationToken));
            _telemetry.Transitioned(audit.Status.ToWire());
            return true;
        }
        catch (DbException) when (row.IdempotencyKey is not null)
        {
            return false;
        }
    }

    public async Task<(IReadOnlyList<AuditRow> Rows, long Total)> ListAsync(string tenant, AuditStatus? status, int page, int pageSize, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        var args = new { tenant, status = status?.ToWire(), limit = pageSize, offset = (page - 1) * pageSize };
        long total = await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM audits WHERE tenant_id = @tenant AND (@status IS NULL OR status = @status)", args, cancellationToken: cancellationToken));
        IEnumerable<AuditRow> rows = await connection.QueryAsync<AuditRow>(new CommandDefinition(
            $"SELECT {AuditRow.Columns} FROM audits WHERE tenant_id = @tenant AND (@status IS NULL OR status = @status) ORDER BY created_at DESC, id LIMIT @limit OFFSET @offset",
            args, cancellationToken: cancellationToken));
        return (rows.ToList(), total);
    }

    /// <summary>
    /// Claims the oldest claimable audit (queued, or running with a lapsed lease). Null when there is none. An audit
    /// the aggregate ends instead of letting it be claimed (cancel requested, or out of attempts) is stored as ended
    /// and the search goes on, so a crash-looping or abandoned audit stops at the next claim.
    /// </summary>
    /// <remarks>
    /// Safe for any number of workers in any number of processes on one database. On PostgreSQL the candidate row is
    /// locked with <c>FOR UPDATE SKIP LOCKED</c> in the claiming transaction, so concurrent claimers pass over each
    /// other's candidates instead of queueing behind them. On SQLite (one writer at a time, no row locks) the claim is
    /// the atomic conditional UPDATE on the version read (<see cref="SaveAsync"/>): of two claimers of one audit exactly
    /// one updates a row, the other sees zero rows and looks again. Either way the claim records the lease (worker id and
    /// expiry) in the same write, and finishing is conditional on still holding it.
    /// </remarks>
    public async Task<AuditRow?> TryClaimAsync(string worker, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        bool rowLocks = SupportsRowLocks(connection);
        var search = new { now = Text(now), queued = AuditStatus.Queued.ToWire(), running = AuditStatus.Running.ToWire() };
        int races = 0;
        while (races < Retries)
        {
            // With row locks the search runs inside the claiming transaction and locks what it finds; without, it only
            // narrows the search and the conditional UPDATE settles races. The aggregate decides either way.
            DbTransaction? locked = rowLocks ? await connection.BeginTransactionAsync(cancellationToken) : null;
            try
            {
                string? candidate = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                    rowLocks ? ClaimCandidateSql + " FOR UPDATE SKIP LOCKED" : ClaimCandidateSql, search, locked, cancellationToken: cancellationToken));
                if (candidate is null)
                {
                    return null;
                }

                AuditAggregate? audit = await LoadAsync(connection, candidate, cancellationToken, locked);
                if (audit is null || !audit.IsClaimable(now))
                {
                    races++;
                    continue;
                }

                bool claimed = audit.Claim(worker, now, lease, _maxAttempts);
                DbTransaction transaction = locked ?? await connection.BeginTransactionAsync(cancellationToken);
                await using (locked is null ? transaction : null)
                {
                    if (!await SaveAsync(connection, transaction, audit, cancellationToken))
                    {
                        // Another worker claimed it first: look again.
                        await transaction.RollbackAsync(cancellationToken);
                        races++;
                        continue;
                    }

                    // A crashed attempt may have left partial results: the new attempt starts clean, an ended audit keeps none.
                    await connection.ExecuteAsync(new CommandDefinition(
                        "DELETE FROM findings WHERE audit_id = @id; DELETE FROM control_results WHERE audit_id = @id; DELETE FROM evidence WHERE audit_id = @id; UPDATE audits SET current_step = NULL, eta_at = NULL WHERE id = @id;",
                        new { id = candidate }, transaction, cancellationToken: cancellationToken));
                    await AnnounceAsync(connection, transaction, audit, cancellationToken);
                    await transaction.CommitAsync(cancellationToken);
                }

                _telemetry.Transitioned(audit.Status.ToWire());
                if (!claimed)
                {
                    // The aggregate ended it (cancel requested, or out of attempts) instead of claiming it: look again.
                    continue;
                }

                return await connection.QuerySingleAsync<AuditRow>(new CommandDefinition(
                    $"SELECT {AuditRow.Columns} FROM audits WHERE id = @id", new { id = candidate }, cancellationToken: cancellationToken));
            }
            finally
            {
                if (locked is not null)
                {
                    await locked.DisposeAsync();
                }
            }
        }

        return null;
    }

    /// <summary>
    /// Extends the lease and records progress. False when the lease was lost (or, cancel requested, the lease
    /// lapsed and the audit ended cancelled); true with the cancel flag.
    /// </summary>
    public async Task<(bool StillOwned, bool CancelRequested)> HeartbeatAsync(
        string id, string worker, double progress, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        AuditAggregate? audit = await TransitionAsync(null, id, a => a.Heartbeat(worker, progress, now, lease), cancellationToken);
        return audit is null ? (false, false) : (audit.Status == AuditStatus.Running, audit.CancelRequested);
    }

    /// <summary>
    /// Records why the worker's attempt could not end; the next claim retries the audit or fails it with this
    /// error. False when this worker no longer holds the audit.
    /// </summary>
    public async Task<bool> RecordAttemptErrorAsync(string id, string worker, string error, CancellationToken cancellationToken) =>
        await TransitionAsync(null, id, a => a.RecordAttemptError(worker, error), cancellationToken) is not null;

    /// <summary>
    /// Cancels a queued audit at once, or asks the worker to stop a running one. Returns the status after the
    /// request, or null when the audit had already finished (or does not exist in the tenant).
    /// </summary>
    public async Task<AuditStatus?> RequestCancelAsync(string tenant, string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        AuditAggregate? audit = await TransitionAsync(tenant, id, a => a.RequestCancel(now), cancellationToken);
        return audit?.Status;
    }

    /// <summary>
    /// Records the probe running now and the estimated end, only while <paramref name="worker"/> holds the running
    /// audit (a worker that lost its lease must not overwrite its successor's step). Not a status change, so it does
    /// not go through the aggregate or bump the version.
    /// </summary>
    public async Task SetLiveStateAsync(string id, string worker, string? step, DateTimeOffset? etaAt, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE audits SET current_step = @step, eta_at = @eta WHERE id = @id AND lease_owner = @worker AND status = @running",
            new { id, worker, step, eta = Text(etaAt), running = AuditStatus.Running.ToWire() },
            cancellationToken: cancellationToken));
    }

    /// <summary>How many audits wait to be claimed (the queue depth metric).</summary>
    public async Task<long> CountQueuedAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM audits WHERE status = @queued", new { queued = AuditStatus.Queued.ToWire() }, cancellationToken: cancellationToken));
    }

    public async Task SetDeviceAsync(string id, string device, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("UPDATE audits SET device = @device WHERE id = @id", new { id, device }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Lets <paramref name="finish"/> end the audit (succeed, fail or confirm a cancel) and records the results with
    /// it in one transaction, in place of those recorded probe by probe; only a succeeded audit keeps results (a cancel
    /// that won over the run discards them).
    /// Returns the status it ended in, or null when the aggregate refused: this worker no longer holds the lease.
    /// Non-finite numbers in the findings are stored as JSON-safe values (<see cref="FiniteJson"/>).
    /// </summary>
    public async Task<AuditStatus?> CompleteAsync(
        string id,
        Action<AuditAggregate> finish,
        IReadOnlyList<ControlResult> controls,
        IReadOnlyList<Finding> findings,
        IReadOnlyList<EvidenceRow> evidence,
        CancellationToken cancellationToken)
    {
        AuditAggregate? audit = await TransitionAsync(null, id, finish, cancellationToken, async (connection, transaction, ended) =>
        {
            // The findings recorded as each probe finished are replaced by the complete set (or dropped with the run).
            await connection.ExecuteAsync(new CommandDefinition(
                "DELETE FROM findings WHERE audit_id = @id; DELETE FROM evidence WHERE audit_id = @id;",
                new { id }, transaction, cancellationToken: cancellationToken));
            if (ended.Status != AuditStatus.Succeeded)
            {
                return;
            }

            await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE audits SET current_step = NULL, eta_at = NULL WHERE id = @id", new { id }, transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO control_results (audit_id, control_id, verdict, reason) VALUES (@id, @ControlId, @verdict, @Reason)",
                controls.Select(c => new { id, c.ControlId, verdict = c.Verdict.ToString().ToLowerInvariant(), c.Reason }),
                transaction, cancellationToken: cancellationToken));
            await InsertFindingsAsync(connection, transaction, id, 0, findings, evidence, cancellationToken);
        });
        return audit?.Status;
    }

    /// <summary>
    /// Records one probe's finding (and its evidence files) as the probe finishes, so the audit shows it and the
    /// event stream and webhooks announce it while later probes run. Only while <paramref name="worker"/> holds the
    /// running audit; false otherwise. <see cref="CompleteAsync"/> later stores the complete set in its place.
    /// </summary>
    public async Task<bool> RecordFindingAsync(
        string id, string worker, int seq, Finding finding, IReadOnlyList<EvidenceRow> evidence, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
        string? tenant = await connection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT tenant_id FROM audits WHERE id = @id AND lease_owner = @worker AND status = @running",
            new { id, worker, running = AuditStatus.Running.ToWire() }, transaction, cancellationToken: cancellationToken));
        if (tenant is null)
        {
            await transaction.RollbackAsync(cancellationToken);
            return false;
        }

        await InsertFindingsAsync(connection, transaction, id, seq, [finding], evidence, cancellationToken);
        var data = new System.Text.Json.Nodes.JsonObject
        {
            ["auditId"] = id,
            ["controlId"] = finding.ControlId,
            ["probe"] = finding.Probe,
            ["verdict"] = finding.Verdict.ToString().ToLowerInvariant(),
            ["score"] = finding.Score is { } score && double.IsFinite(score) ? score : null,
            ["summary"] = finding.Summary,
            ["role"] = Domain.Profiles.ControlVerdicts.RoleName(finding.Role),
            ["href"] = $"/api/v1/audits/{id}",
        };
        await WebhookRepository.EnqueueAsync(connection, transaction, tenant, "audit.finding", data, _time.GetUtcNow(), cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task InsertFindingsAsync(
        DbConnection connection, DbTransaction transaction, string id, int firstSeq, IReadOnlyList<Finding> findings, IReadOnlyList<EvidenceRow> evidence, CancellationToken cancellationToken)
    {
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO findings (audit_id, seq, control_id, probe, verdict, score, summary, details_json) VALUES (@id, @seq, @ControlId, @Probe, @verdict, @Score, @Summary, @details)",
            findings.Select((f, i) => new
            {
                id, seq = firstSeq + i, f.ControlId, f.Probe, verdict = f.Verdict.ToString().ToLowerInvariant(),
                Score = f.Score is { } score && double.IsFinite(score) ? score : (double?)null, f.Summary,
                details = FiniteJson.Sanitise(f.Details, f.Score).ToJsonString(),
            }),
            transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO evidence (id, audit_id, tenant_id, seq, name, media_type, caption, sha256, size_bytes) VALUES (@Id, @AuditId, @TenantId, @Seq, @Name, @MediaType, @Caption, @Sha256, @SizeBytes)",
            evidence, transaction, cancellationToken: cancellationToken));
    }

    /// <summary>One evidence file of an audit of the tenant; null when any of the three does not match.</summary>
    public async Task<EvidenceRow?> FindEvidenceAsync(string? tenant, string auditId, string evidenceId, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<EvidenceRow>(new CommandDefinition(
            $"SELECT {EvidenceRow.Columns} FROM evidence WHERE id = @evidenceId AND audit_id = @auditId AND (@tenant IS NULL OR tenant_id = @tenant)",
            new { tenant, auditId, evidenceId }, cancellationToken: cancellationToken));
    }

    /// <summary>Every evidence file of an audit, in recorded order.</summary>
    public async Task<IReadOnlyList<EvidenceRow>> EvidenceOfAsync(string auditId, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<EvidenceRow>(new CommandDefinition(
            $"SELECT {EvidenceRow.Columns} FROM evidence WHERE audit_id = @auditId ORDER BY seq",
            new { auditId }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>
    /// Reads, decides, writes if unchanged (with <paramref name="alsoWrite"/> in the same transaction); retries on a
    /// lost race. Null when the audit is missing, of another tenant, or the aggregate refused the transition.
    /// </summary>
    private async Task<AuditAggregate?> TransitionAsync(
        string? tenant,
        string id,
        Action<AuditAggregate> decide,
        CancellationToken cancellationToken,
        Func<DbConnection, DbTransaction, AuditAggregate, Task>? alsoWrite = null)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        for (int attempt = 0; attempt < Retries; attempt++)
        {
            AuditAggregate? audit = await LoadAsync(connection, id, cancellationToken);
            if (audit is null || (tenant is not null && audit.TenantId != tenant))
            {
                return null;
            }

            AuditStatus before = audit.Status;
            try
            {
                decide(audit);
            }
            catch (AuditTransitionException)
            {
                return null;
            }

            await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (await SaveAsync(connection, transaction, audit, cancellationToken))
            {
                if (alsoWrite is not null)
                {
                    await alsoWrite(connection, transaction, audit);
                }

                if (audit.Status != before)
                {
                    await AnnounceAsync(connection, transaction, audit, cancellationToken);
                }

                await transaction.CommitAsync(cancellationToken);
                if (audit.Status != before)
                {
                    _telemetry.Transitioned(audit.Status.ToWire());
                }

                return audit;
            }

            await transaction.RollbackAsync(cancellationToken);
        }

        throw new InvalidOperationException($"Audit '{id}' kept changing while being updated; try again.");
    }

    /// <summary>Queues the webhook event for a status the audit just entered, in the transaction that entered it.</summary>
    private Task AnnounceAsync(DbConnection connection, DbTransaction transaction, AuditAggregate audit, CancellationToken cancellationToken)
    {
        var data = new System.Text.Json.Nodes.JsonObject
        {
            ["auditId"] = audit.Id,
            ["status"] = audit.Status.ToWire(),
            ["verdict"] = audit.Verdict?.ToString().ToLowerInvariant(),
            ["error"] = Errors.ServerPaths.Redact(audit.Error),
            ["href"] = $"/api/v1/audits/{audit.Id}",
        };
        return WebhookRepository.EnqueueAsync(
            connection, transaction, audit.TenantId, "audit." + audit.Status.ToWire(), data, _time.GetUtcNow(), cancellationToken);
    }

    private static async Task<AuditAggregate?> LoadAsync(DbConnection connection, string id, CancellationToken cancellationToken, DbTransaction? transaction = null)
    {
        StateRow? row = await connection.QuerySingleOrDefaultAsync<StateRow>(new CommandDefinition(
            $"SELECT {StateColumns} FROM audits WHERE id = @id", new { id }, transaction, cancellationToken: cancellationToken));
        return row is null ? null : AuditAggregate.Restore(new AuditState(
            row.id,
            row.tenant_id,
            AuditStatusRules.ParseWire(row.status) ?? throw new InvalidOperationException($"Unknown audit status '{row.status}'."),
            (int)row.attempts,
            row.lease_owner,
            Time(row.lease_expires_at),
            row.cancel_requested != 0,
            row.progress,
            Enum.TryParse(row.verdict, ignoreCase: true, out Verdict verdict) ? verdict : null,
            row.error,
            Time(row.created_at)!.Value,
            Time(row.started_at),
            Time(row.finished_at),
            row.version));
    }

    /// <summary>Writes the aggregate's state if the row still has the version it was read at.</summary>
    private static async Task<bool> SaveAsync(DbConnection connection, DbTransaction transaction, AuditAggregate audit, CancellationToken cancellationToken)
    {
        AuditState s = audit.ToState();
        int updated = await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE audits SET status = @status, attempts = @attempts, lease_owner = @leaseOwner, lease_expires_at = @leaseExpiresAt,
                cancel_requested = @cancelRequested, progress = @progress, verdict = @verdict, error = @error,
                started_at = @startedAt, finished_at = @finishedAt, version = version + 1
            WHERE id = @id AND version = @version
            """,
            // SQLite matches parameter names case-sensitively: every name is spelled as in the SQL.
            new
            {
                id = s.Id,
                status = s.Status.ToWire(),
                attempts = s.Attempts,
                leaseOwner = s.LeaseOwner,
                leaseExpiresAt = Text(s.LeaseExpiresAt),
                cancelRequested = s.CancelRequested ? 1 : 0,
                progress = s.Progress,
                verdict = s.Verdict?.ToString().ToLowerInvariant(),
                error = s.Error,
                startedAt = Text(s.StartedAt),
                finishedAt = Text(s.FinishedAt),
                version = s.Version,
            },
            transaction,
            cancellationToken: cancellationToken));
        return updated == 1;
    }

    /// <summary>
    /// Whether the database locks rows (<c>SELECT ... FOR UPDATE SKIP LOCKED</c>): every provider but the embedded
    /// SQLite, which serialises writers on the whole file instead.
    /// </summary>
    internal static bool SupportsRowLocks(DbConnection connection) => connection is not Microsoft.Data.Sqlite.SqliteConnection;

    // ISO-8601 round-trip text sorts like the instants it names (all UTC), which the lease query relies on.
    private static string? Text(DateTimeOffset? value) => value?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset? Time(string? value) =>
        value is null ? null : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

#pragma warning disable IDE1006, CA1812 // Dapper maps the columns by name; the row is instantiated by reflection.
    private sealed record StateRow(
        string id, string tenant_id, string status, long attempts, string? lease_owner, string? lease_expires_at, long cancel_requested,
        double progress, string? verdict, string? error, string created_at, string? started_at, string? finished_at, long version);
#pragma warning restore IDE1006, CA1812
}
