using Audit.Evaluators.Onnx;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Evaluators;

/// <summary>Registers the probes, their catalog and runner, and the model loader.</summary>
public static class EvaluatorsServiceCollectionExtensions
{
    public static IServiceCollection AddEvaluators(this IServiceCollection services)
    {
        services.AddSingleton<IProbe, ModelInventoryProbe>();
        services.AddSingleton<ProbeCatalog>();
        services.AddSingleton<Func<string, ComputeDevice, IModelSource>>(static (path, device) => new OnnxModelSource(path, device));
        services.AddSingleton<ProbeRunner>();
        return services;
    }
}
