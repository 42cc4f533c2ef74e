using Audit.Evaluators.Models;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>Hands probes one model, as the audit's model source does.</summary>
internal sealed class FixedModelSource(IDifferentiableModel model) : IModelSource
{
    public IDifferentiableModel Load(CancellationToken cancellationToken) => model;
}
