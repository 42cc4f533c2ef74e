namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// An audit's progress from its probes' own: each probe's fraction done, weighted by its expected cost
/// (<see cref="ProbeCosts"/>). A probe's fraction only grows: its reports come from several threads (the trigger scan
/// reports from both of its lanes) through <see cref="Progress{T}"/>, which does not keep their order, and a step back
/// would stretch the estimate of the time left.
/// </summary>
public sealed class WeightedProgress
{
    private readonly IReadOnlyList<double> _weights;
    private readonly double[] _fractions;
    private readonly Lock _gate = new();

    public WeightedProgress(IReadOnlyList<double> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        _weights = weights;
        _fractions = new double[weights.Count];
    }

    /// <summary>Records that probe <paramref name="slot"/> is <paramref name="fraction"/> done; returns the audit's progress (0..1).</summary>
    public double Report(int slot, double fraction)
    {
        lock (_gate)
        {
            _fractions[slot] = Math.Max(_fractions[slot], Math.Clamp(double.IsNaN(fraction) ? 0 : fraction, 0, 1));
            double done = 0;
            for (int i = 0; i < _fractions.Length; i++)
            {
                done += _weights[i] * _fractions[i];
            }

            return Math.Min(1, done);
        }
    }
}
