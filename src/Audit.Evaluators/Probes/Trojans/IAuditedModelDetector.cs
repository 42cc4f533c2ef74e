namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// A trojan detector that computes on the audited model only: no trigger scan, no distilled reference. trojan-likelihood
/// has such detectors computed in the trigger scan's wait for its reference (<see cref="Sessions.IdleWork"/>), where the
/// scan's audited-model lane would otherwise idle, and reads the finding in the detector's turn.
/// </summary>
internal interface IAuditedModelDetector : ISharedTrojanDetector;
