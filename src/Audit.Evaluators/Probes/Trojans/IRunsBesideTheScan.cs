namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A trojan detector that compares the audited model with the audit's distilled reference but reads nothing else of the
/// trigger scan: trojan-likelihood starts it with the scan, on a thread of its own (<see cref="ISharedTrojanDetector.RunHere"/>
/// blocks for the reference's distillation and then for the detector's lanes), it waits for the reference (the session
/// distils it once), and its lanes then run beside the scan's refinement, filling the cores the scan's lanes leave idle
/// where their shares end apart (docs/benchmarks.md, "The contrastive search beside the scan").
/// </summary>
internal interface IRunsBesideTheScan : ISharedTrojanDetector;
