using Audit.Evaluators.Onnx;
using Audit.Evaluators.Models;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Audit.Evaluators.Probes.Trojans;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Evaluators;

/// <summary>Registers the probes, their catalog and runner, and the model loader.</summary>
public static class EvaluatorsServiceCollectionExtensions
{
    public static IServiceCollection AddEvaluators(this IServiceCollection services)
    {
        services.AddSingleton<IProbe, ModelInventoryProbe>();
        services.AddSingleton<IProbe, AccuracyProbe>();
        services.AddSingleton<IProbe, PerturbationRobustnessProbe>();
        services.AddSingleton<IProbe, NeuralCleanseProbe>();
        services.AddSingleton<IProbe, StripProbe>();
        services.AddSingleton<IProbe, ActivationClusteringProbe>();
        services.AddSingleton<IProbe, SpectralSignatureProbe>();
        services.AddSingleton<IProbe, AdversarialSinkProbe>();
        services.AddSingleton<IProbe, LabelSpecificScanProbe>();
        services.AddSingleton<IProbe, WeightSignatureProbe>();
        services.AddSingleton<IProbe, SaliencyPersistenceProbe>();
        services.AddSingleton<IProbe, BlendInversionProbe>();
        services.AddSingleton<IProbe, WarpInversionProbe>();
        services.AddSingleton<IProbe, TrojanCausalTraceProbe>();
        services.AddSingleton<IProbe>(static _ => new TrojanLikelihoodProbe());
        services.AddSingleton<IProbe, CueDivergenceProbe>();
        services.AddSingleton<IProbe, TriggerSearchProbe>();
        services.AddSingleton<IProbe, TokenClassDominanceProbe>();
        services.AddSingleton<IProbe, LinearDeceptionProbe>();
        services.AddSingleton<IProbe, ContrastConsistentSearchProbe>();
        services.AddSingleton<ProbeCatalog>();
        services.AddSingleton<Func<string, ComputeDevice, IModelSource>>(static (path, device) => new OnnxModelSource(path, device));
        services.AddSingleton<ProbeRunner>();
        return services;
    }
}
