namespace Audit.Evaluators.Models;

/// <summary>Gives probes the audited model as a differentiable graph; loads once per audit and caches.</summary>
public interface IModelSource
{
    /// <summary>The model on the audit's device. Owned by the source: probes must not dispose it.</summary>
    IDifferentiableModel Load(CancellationToken cancellationToken);
}
