namespace Audit.Evaluators.Probes;

/// <summary>
/// One published method that inspects a model. Implementations are sealed, stateless between runs,
/// deterministic for a fixed seed on a given device, and cite their method in their descriptor.
/// </summary>
public interface IProbe
{
    /// <summary>Name, citation, parameters and evidence the probe needs.</summary>
    ProbeDescriptor Descriptor { get; }

    /// <summary>Runs the probe. Reports progress in [0, 1]; honours cancellation within about a second.</summary>
    Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken);
}
