namespace Audit.Domain.Findings;

/// <summary>The outcome of a finding, a control or a whole audit.</summary>
/// <remarks>Never <see cref="Pass"/> because something could not run: that is <see cref="Inconclusive"/>.</remarks>
public enum Verdict
{
    /// <summary>Evidence was gathered and nothing was flagged.</summary>
    Pass,

    /// <summary>The probe's statistic reached its flag threshold (score ≥ 1).</summary>
    Fail,

    /// <summary>Evidence was missing, a probe failed or did not converge.</summary>
    Inconclusive,
}
