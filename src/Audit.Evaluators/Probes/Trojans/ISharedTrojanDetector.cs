namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A trojan detector whose finding trojan-likelihood may have computed before the detector's turn, on a thread of its
/// choosing (<see cref="IAuditedModelDetector"/>, <see cref="IRunsBesideTheScan"/>).
/// </summary>
internal interface ISharedTrojanDetector
{
    /// <summary>
    /// The detector's finding for <paramref name="context"/>, computed on the calling thread (its work at the scans'
    /// fixed intra-op thread count) the first time the audit asks for it with these parameters and shared after that
    /// (<see cref="SharedOutcome"/>): computed early or in its turn, it is the same finding.
    /// </summary>
    ProbeOutcome RunHere(ProbeContext context, CancellationToken cancellationToken);
}
