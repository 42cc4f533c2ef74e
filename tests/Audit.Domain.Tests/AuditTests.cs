using Audit.Domain.Audits;
using Audit.Domain.Findings;
using AuditAggregate = Audit.Domain.Audits.Audit;

namespace Audit.Domain.Tests;

/// <summary>Every transition of the audit's state machine, from every status it can be tried in.</summary>
public sealed class AuditTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    public enum Start
    {
        Queued,
        Running,
        RunningLeaseLapsed,
        RunningCancelRequested,
        Succeeded,
        Failed,
        Cancelled,
    }

    public enum Transition
    {
        ClaimByOther,
        HeartbeatByOwner,
        HeartbeatByOther,
        RequestCancel,
        SucceedByOwner,
        SucceedByOther,
        FailByOwner,
        ConfirmCancelledByOwner,
    }

    /// <summary>Start state, transition, and the status after it (null: the transition is refused).</summary>
    public static TheoryData<Start, Transition, AuditStatus?> Table => new()
    {
        { Start.Queued, Transition.ClaimByOther, AuditStatus.Running },
        { Start.Queued, Transition.HeartbeatByOwner, null },
        { Start.Queued, Transition.RequestCancel, AuditStatus.Cancelled },
        { Start.Queued, Transition.SucceedByOwner, null },
        { Start.Queued, Transition.FailByOwner, null },
        { Start.Queued, Transition.ConfirmCancelledByOwner, null },
        { Start.Running, Transition.ClaimByOther, null },
        { Start.Running, Transition.HeartbeatByOwner, AuditStatus.Running },
        { Start.Running, Transition.HeartbeatByOther, null },
        { Start.Running, Transition.RequestCancel, AuditStatus.Running },
        { Start.Running, Transition.SucceedByOwner, AuditStatus.Succeeded },
        { Start.Running, Transition.SucceedByOther, null },
        { Start.Running, Transition.FailByOwner, AuditStatus.Failed },
        { Start.Running, Transition.ConfirmCancelledByOwner, null },
        { Start.RunningLeaseLapsed, Transition.ClaimByOther, AuditStatus.Running },
        { Start.RunningLeaseLapsed, Transition.HeartbeatByOwner, AuditStatus.Running },
        { Start.RunningCancelRequested, Transition.ConfirmCancelledByOwner, AuditStatus.Cancelled },
        { Start.RunningCancelRequested, Transition.SucceedByOwner, AuditStatus.Succeeded },
        { Start.RunningCancelRequested, Transition.RequestCancel, AuditStatus.Running },
        { Start.Succeeded, Transition.ClaimByOther, null },
        { Start.Succeeded, Transition.RequestCancel, null },
        { Start.Succeeded, Transition.FailByOwner, null },
        { Start.Succeeded, Transition.HeartbeatByOwner, null },
        { Start.Failed, Transition.ClaimByOther, null },
        { Start.Failed, Transition.RequestCancel, null },
        { Start.Failed, Transition.SucceedByOwner, null },
        { Start.Cancelled, Transition.ClaimByOther, null },
        { Start.Cancelled, Transition.RequestCancel, null },
        { Start.Cancelled, Transition.ConfirmCancelledByOwner, null },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void Transition_FromStatus_EndsInStatusOrIsRefused(Start start, Transition transition, AuditStatus? expected)
    {
        AuditAggregate audit = Arrange(start);
        AuditStatus before = audit.Status;
        DateTimeOffset now = T0.AddMinutes(5);

        void Act()
        {
            switch (transition)
            {
                case Transition.ClaimByOther: audit.Claim("worker-b", now, Lease); break;
                case Transition.HeartbeatByOwner: audit.Heartbeat("worker-a", 0.5, now, Lease); break;
                case Transition.HeartbeatByOther: audit.Heartbeat("worker-b", 0.5, now, Lease); break;
                case Transition.RequestCancel: audit.RequestCancel(now); break;
                case Transition.SucceedByOwner: audit.Succeed("worker-a", Verdict.Pass, now); break;
                case Transition.SucceedByOther: audit.Succeed("worker-b", Verdict.Pass, now); break;
                case Transition.FailByOwner: audit.Fail("worker-a", "broken", now); break;
                case Transition.ConfirmCancelledByOwner: audit.ConfirmCancelled("worker-a", now); break;
                default: throw new ArgumentOutOfRangeException(nameof(transition));
            }
        }

        if (expected is null)
        {
            var refused = Assert.Throws<AuditTransitionException>(Act);
            Assert.Equal(before, refused.Status);
            Assert.Equal(before, audit.Status);
        }
        else
        {
            Act();
            Assert.Equal(expected, audit.Status);
            Assert.Equal(expected.Value.IsTerminal(), audit.FinishedAt is not null);
            Assert.Equal(expected == AuditStatus.Running, audit.LeaseOwner is not null);
        }
    }

    [Fact]
    public void Claim_OfLapsedLease_CountsAnotherAttemptAndKeepsFirstStart()
    {
        AuditAggregate audit = Arrange(Start.RunningLeaseLapsed);

        audit.Claim("worker-b", T0.AddMinutes(5), Lease);

        Assert.Equal((2, "worker-b", T0), (audit.Attempts, audit.LeaseOwner, audit.StartedAt!.Value));
        Assert.Equal(T0.AddMinutes(5) + Lease, audit.LeaseExpiresAt);
        Assert.Equal(0, audit.Progress);
    }

    [Fact]
    public void IsClaimable_OnlyOnceTheLeaseHasLapsed()
    {
        AuditAggregate audit = Arrange(Start.Running);

        DateTimeOffset lapses = audit.LeaseExpiresAt!.Value;

        Assert.False(audit.IsClaimable(lapses));
        Assert.True(audit.IsClaimable(lapses + TimeSpan.FromTicks(1)));
    }

    [Fact]
    public void Heartbeat_ExtendsTheLeaseAndRecordsProgress()
    {
        AuditAggregate audit = Arrange(Start.Running);

        audit.Heartbeat("worker-a", 0.25, T0.AddSeconds(20), Lease);

        Assert.Equal((0.25, T0.AddSeconds(50)), (audit.Progress, audit.LeaseExpiresAt!.Value));
    }

    [Fact]
    public void RequestCancel_OfRunning_OnlyRaisesTheFlag()
    {
        AuditAggregate audit = Arrange(Start.Running);

        Assert.Equal(AuditStatus.Running, audit.RequestCancel(T0));

        Assert.True(audit.CancelRequested);
        Assert.Null(audit.FinishedAt);
    }

    [Fact]
    public void Succeed_RecordsVerdictAndFullProgress_FailRecordsError()
    {
        AuditAggregate succeeded = Arrange(Start.Running);
        AuditAggregate failed = Arrange(Start.Running);

        succeeded.Succeed("worker-a", Verdict.Fail, T0.AddMinutes(1));
        failed.Fail("worker-a", "model rejected", T0.AddMinutes(1));

        Assert.Equal((Verdict.Fail, 1.0), (succeeded.Verdict!.Value, succeeded.Progress));
        Assert.Equal("model rejected", failed.Error);
        Assert.Null(failed.Verdict);
    }

    [Fact]
    public void Restore_RoundTripsTheStoredState()
    {
        AuditAggregate audit = Arrange(Start.RunningCancelRequested);

        AuditState state = AuditAggregate.Restore(audit.ToState()).ToState();

        Assert.Equal(audit.ToState(), state);
    }

    private static AuditAggregate Arrange(Start start)
    {
        AuditAggregate audit = AuditAggregate.Submit("aud_1", "tenant", T0.AddMinutes(-1));
        if (start == Start.Queued)
        {
            return audit;
        }

        if (start == Start.Cancelled)
        {
            audit.RequestCancel(T0);
            return audit;
        }

        audit.Claim("worker-a", T0, start == Start.RunningLeaseLapsed ? TimeSpan.FromMinutes(1) : Lease + TimeSpan.FromMinutes(10));
        switch (start)
        {
            case Start.Succeeded: audit.Succeed("worker-a", Verdict.Pass, T0.AddMinutes(1)); break;
            case Start.Failed: audit.Fail("worker-a", "broken", T0.AddMinutes(1)); break;
            case Start.RunningCancelRequested: audit.RequestCancel(T0); break;
        }

        return audit;
    }
}
