using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Probes;

/// <summary>
/// A probe whose first part does not depend on earlier probes and can run before its turn, in time another probe's
/// lane would spend waiting (<see cref="IdleWork"/>). The session offers it when the probe is started, so an audit
/// that starts all its probes at once (the service's worker does) lets earlier probes fill their waits with it.
/// </summary>
internal interface IOffersIdleWork
{
    /// <summary>
    /// Registers the early steps with <c>context.Session.Idle</c>. Must be cheap and must not throw: anything that can
    /// fail (parameters, evidence) is checked inside the steps, and a failing step leaves the work to the probe.
    /// </summary>
    /// <param name="context">The context the probe will run with (its progress excepted).</param>
    void OfferIdleWork(ProbeContext context);
}
