namespace Audit.Evaluators.Sessions;

/// <summary>Which model an idle step computes on.</summary>
public enum IdleModel
{
    /// <summary>The audited model.</summary>
    Audited,

    /// <summary>A model the audit derived from it (the distilled reference).</summary>
    Reference,
}

/// <summary>
/// Work a probe of the audit offers to have done before its turn, in time a lane of an earlier probe would otherwise
/// spend waiting: the trojan scan's audited-model lane waits several seconds while the other lane distils the reference,
/// and the adversarial sink test's walks and trojan-likelihood's audited-model-only detectors fit there. Each offered
/// step computes exactly what the probe would compute itself (same inputs, seeds and intra-op thread count), so who
/// runs it changes when it is done, never its numbers; what nobody did early, the probe does when it runs.
/// </summary>
/// <remarks>
/// A waiting lane says which model it may compute on (<see cref="IdleModel"/>): the lanes never run two computations on
/// the audited model at once, and an idle step keeps that rule. Steps are short (one batch), so a lane whose wait ends
/// resumes at most one step late.
/// </remarks>
public sealed class IdleWork
{
    private readonly Lock _gate = new();
    private readonly List<Func<IdleModel, CancellationToken, bool>> _offers = [];

    /// <summary>
    /// Offers steps: <paramref name="step"/> runs one unit of work on the given model and returns true, or returns false
    /// when it has none left for that model (or can no longer help). It must not throw, cancellation excepted.
    /// </summary>
    /// <param name="step">One unit of the offering probe's work.</param>
    public void Offer(Func<IdleModel, CancellationToken, bool> step)
    {
        ArgumentNullException.ThrowIfNull(step);
        lock (_gate)
        {
            _offers.Add(step);
        }
    }

    /// <summary>
    /// Runs offered steps on <paramref name="model"/> until <paramref name="until"/> completes or no offer has a step
    /// left; then returns (the caller goes on waiting, if it still must).
    /// </summary>
    /// <param name="until">What the lane is waiting for.</param>
    /// <param name="model">The model the lane may compute on while it waits.</param>
    /// <param name="cancellationToken">Stops between and inside steps.</param>
    /// <returns>How many steps ran.</returns>
    public int RunUntil(Task until, IdleModel model, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(until);
        int ran = 0;
        while (!until.IsCompleted)
        {
            Func<IdleModel, CancellationToken, bool>[] offers;
            lock (_gate)
            {
                offers = [.. _offers];
            }

            Func<IdleModel, CancellationToken, bool>? worked = offers.FirstOrDefault(step => !until.IsCompleted && step(model, cancellationToken));
            if (worked is null)
            {
                return ran;
            }

            ran++;
        }

        return ran;
    }
}
