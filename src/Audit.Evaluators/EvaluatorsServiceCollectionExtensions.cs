using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Evaluators;

/// <summary>Registers the probes, their catalog and runner, and the model loader.</summary>
public static class EvaluatorsServiceCollectionExtensions
{
    public static IServiceCollection AddEvaluators(this IServiceCollection services)
    {
        services.AddSingleton(new OperatorSupportCheck(static (_, _, _) => false));
        services.AddSingleton<IProbe>(sp => new ModelInventoryProbe(sp.GetRequiredService<OperatorSupportCheck>().IsSupported));
        services.AddSingleton<ProbeCatalog>();
        services.AddSingleton<Func<string, ComputeDevice, IModelSource>>(static (_, _) => throw new NotSupportedException("ONNX import is not available yet."));
        services.AddSingleton<ProbeRunner>();
        return services;
    }
}
