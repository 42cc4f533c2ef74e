namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A trojan detector that compares the audited model with the audit's distilled reference but reads nothing else of the
/// trigger scan: trojan-likelihood starts it with the scan, it waits for the reference (the session distils it once),
/// and its lanes then run beside the scan's refinement, filling the cores the scan's lanes leave idle where their
/// shares end apart (docs/benchmarks.md, "The contrastive search beside the scan").
/// </summary>
internal interface IRunsBesideTheScan
{
    /// <summary>
    /// The detector's finding for <paramref name="context"/>, computed on the calling thread (its lanes at the scans'
    /// fixed intra-op thread count) the first time the audit asks for it with these parameters and shared after that
    /// (<see cref="SharedOutcome"/>): beside the scan or in its turn, it is the same finding. The caller gives it a
    /// thread of its own: it blocks for the detector's whole run, the reference's distillation included.
    /// </summary>
    ProbeOutcome RunHere(ProbeContext context, CancellationToken cancellationToken);
}
