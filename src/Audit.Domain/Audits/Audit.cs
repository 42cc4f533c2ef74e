using Audit.Domain.Findings;

namespace Audit.Domain.Audits;

/// <summary>
/// One audit and the rules of its life: queued → running → succeeded | failed | cancelled. A worker claims a
/// queued audit (or a running one whose lease lapsed because its worker died) and holds it by a lease it renews
/// with heartbeats; cancelling a queued audit ends it at once, cancelling a running one only asks its worker,
/// which ends it cancelled. Each transition is one method that throws <see cref="AuditTransitionException"/> when
/// the audit is not in a state that allows it. Persistence stores what these methods decided and applies it only
/// if nobody changed the audit since it was read (<see cref="Version"/>), which keeps the claim race-safe.
/// </summary>
public sealed class Audit
{
    private Audit(string id, string tenantId, AuditStatus status, DateTimeOffset createdAt)
    {
        Id = id;
        TenantId = tenantId;
        Status = status;
        CreatedAt = createdAt;
    }

    /// <summary>The audit's id, e.g. <c>aud_…</c>.</summary>
    public string Id { get; }

    /// <summary>The tenant that submitted it.</summary>
    public string TenantId { get; }

    /// <summary>Where the audit is in its life.</summary>
    public AuditStatus Status { get; private set; }

    /// <summary>How many times a worker claimed it (a reclaim after a lapsed lease counts again).</summary>
    public int Attempts { get; private set; }

    /// <summary>The worker holding the lease while running; null otherwise.</summary>
    public string? LeaseOwner { get; private set; }

    /// <summary>When the lease lapses unless renewed; null when not running.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; private set; }

    /// <summary>True once cancellation was asked for.</summary>
    public bool CancelRequested { get; private set; }

    /// <summary>Fraction of the probes done, 0 to 1.</summary>
    public double Progress { get; private set; }

    /// <summary>The overall verdict of a succeeded audit.</summary>
    public Verdict? Verdict { get; private set; }

    /// <summary>Why a failed audit failed.</summary>
    public string? Error { get; private set; }

    /// <summary>When it was submitted.</summary>
    public DateTimeOffset CreatedAt { get; }

    /// <summary>When a worker first claimed it.</summary>
    public DateTimeOffset? StartedAt { get; private set; }

    /// <summary>When it reached a terminal status.</summary>
    public DateTimeOffset? FinishedAt { get; private set; }

    /// <summary>The stored version this state was read at; persistence applies a change only if it is unchanged.</summary>
    public long Version { get; private set; }

    /// <summary>A newly submitted audit, waiting for a worker.</summary>
    public static Audit Submit(string id, string tenantId, DateTimeOffset now) => new(id, tenantId, AuditStatus.Queued, now);

    /// <summary>An audit as persistence stored it.</summary>
    public static Audit Restore(AuditState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return new Audit(state.Id, state.TenantId, state.Status, state.CreatedAt)
        {
            Attempts = state.Attempts,
            LeaseOwner = state.LeaseOwner,
            LeaseExpiresAt = state.LeaseExpiresAt,
            CancelRequested = state.CancelRequested,
            Progress = state.Progress,
            Verdict = state.Verdict,
            Error = state.Error,
            StartedAt = state.StartedAt,
            FinishedAt = state.FinishedAt,
            Version = state.Version,
        };
    }

    /// <summary>Queued, or running with a lease that lapsed before <paramref name="now"/> (its worker died).</summary>
    public bool IsClaimable(DateTimeOffset now) =>
        Status == AuditStatus.Queued || (Status == AuditStatus.Running && LeaseExpiresAt < now);

    /// <summary>A worker takes the audit for <paramref name="lease"/>; a reclaim starts it again from the beginning.</summary>
    public void Claim(string worker, DateTimeOffset now, TimeSpan lease)
    {
        ArgumentException.ThrowIfNullOrEmpty(worker);
        if (!IsClaimable(now))
        {
            throw new AuditTransitionException(Id, Status, Status == AuditStatus.Running ? "claim (its lease has not lapsed)" : "claim");
        }

        Status = AuditStatus.Running;
        LeaseOwner = worker;
        LeaseExpiresAt = now + lease;
        Attempts++;
        StartedAt ??= now;
        Progress = 0;
    }

    /// <summary>The lease holder renews its lease and reports progress; anyone else has lost the audit.</summary>
    public void Heartbeat(string worker, double progress, DateTimeOffset now, TimeSpan lease)
    {
        EnsureHeldBy(worker, "renew the lease of");
        Progress = Math.Clamp(progress, 0, 1);
        LeaseExpiresAt = now + lease;
    }

    /// <summary>
    /// Cancels a queued audit at once, or asks the worker of a running one to stop; returns the status after the
    /// request. A finished audit cannot be cancelled.
    /// </summary>
    public AuditStatus RequestCancel(DateTimeOffset now)
    {
        switch (Status)
        {
            case AuditStatus.Queued:
                Status = AuditStatus.Cancelled;
                CancelRequested = true;
                FinishedAt = now;
                return Status;
            case AuditStatus.Running:
                CancelRequested = true;
                return Status;
            default:
                throw new AuditTransitionException(Id, Status, "cancel");
        }
    }

    /// <summary>The lease holder records a completed run and its overall verdict.</summary>
    public void Succeed(string worker, Verdict verdict, DateTimeOffset now)
    {
        EnsureHeldBy(worker, "complete");
        Verdict = verdict;
        Progress = 1;
        Finish(AuditStatus.Succeeded, now);
    }

    /// <summary>The lease holder records that the audit could not complete, and why.</summary>
    public void Fail(string worker, string error, DateTimeOffset now)
    {
        ArgumentException.ThrowIfNullOrEmpty(error);
        EnsureHeldBy(worker, "fail");
        Error = error;
        Finish(AuditStatus.Failed, now);
    }

    /// <summary>The lease holder stops a running audit whose cancellation was requested.</summary>
    public void ConfirmCancelled(string worker, DateTimeOffset now)
    {
        EnsureHeldBy(worker, "cancel");
        if (!CancelRequested)
        {
            throw new AuditTransitionException(Id, Status, "cancel (nobody asked for it)");
        }

        Finish(AuditStatus.Cancelled, now);
    }

    /// <summary>What persistence stores.</summary>
    public AuditState ToState() => new(
        Id, TenantId, Status, Attempts, LeaseOwner, LeaseExpiresAt, CancelRequested, Progress, Verdict, Error, CreatedAt, StartedAt, FinishedAt, Version);

    private void EnsureHeldBy(string worker, string action)
    {
        if (Status != AuditStatus.Running || LeaseOwner != worker)
        {
            throw new AuditTransitionException(Id, Status, Status == AuditStatus.Running ? $"{action} (another worker holds it)" : action);
        }
    }

    private void Finish(AuditStatus status, DateTimeOffset now)
    {
        Status = status;
        FinishedAt = now;
        LeaseOwner = null;
        LeaseExpiresAt = null;
    }
}

/// <summary>An <see cref="Audit"/>'s stored fields.</summary>
/// <param name="Id">The audit's id.</param>
/// <param name="TenantId">Its tenant.</param>
/// <param name="Status">Its status.</param>
/// <param name="Attempts">Claims so far.</param>
/// <param name="LeaseOwner">The worker holding it while running.</param>
/// <param name="LeaseExpiresAt">When the lease lapses.</param>
/// <param name="CancelRequested">Whether cancellation was asked for.</param>
/// <param name="Progress">Fraction done.</param>
/// <param name="Verdict">Overall verdict once succeeded.</param>
/// <param name="Error">Why it failed.</param>
/// <param name="CreatedAt">Submission time.</param>
/// <param name="StartedAt">First claim time.</param>
/// <param name="FinishedAt">Terminal time.</param>
/// <param name="Version">Optimistic-concurrency version it was read at.</param>
public sealed record AuditState(
    string Id,
    string TenantId,
    AuditStatus Status,
    int Attempts,
    string? LeaseOwner,
    DateTimeOffset? LeaseExpiresAt,
    bool CancelRequested,
    double Progress,
    Verdict? Verdict,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    long Version);

/// <summary>A transition the audit's current status does not allow.</summary>
public sealed class AuditTransitionException : InvalidOperationException
{
    /// <summary>Creates the exception for <paramref name="action"/> attempted in <paramref name="status"/>.</summary>
    public AuditTransitionException(string auditId, AuditStatus status, string action)
        : base($"Cannot {action} audit '{auditId}': it is {status.ToWire()}.")
    {
        AuditId = auditId;
        Status = status;
    }

    /// <summary>The audit.</summary>
    public string AuditId { get; }

    /// <summary>Its status when the transition was refused.</summary>
    public AuditStatus Status { get; }
}
