using System.Text.Json;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Sessions;

namespace Audit.Evaluators.Probes;

/// <summary>One probe to run: what the profile asked for, already validated.</summary>
public sealed record ProbeInvocation(string Probe, IReadOnlyDictionary<string, JsonElement> Parameters, double? Threshold);

/// <summary>Opens evaluation sessions: one per audit, sharing the loaded model, evidence and results between probes.</summary>
public sealed class ProbeRunner
{
    private readonly ProbeCatalog _catalog;
    private readonly Func<string, ComputeDevice, IModelSource> _modelSources;

    public ProbeRunner(ProbeCatalog catalog, Func<string, ComputeDevice, IModelSource> modelSources)
    {
        _catalog = catalog;
        _modelSources = modelSources;
    }

    /// <summary>Starts a session on the device named by <paramref name="deviceSetting"/> (auto, cpu, cuda).</summary>
    /// <param name="modelPath">The ONNX model in the artifact store.</param>
    /// <param name="datasetPath">The evidence file, when the audit has one.</param>
    /// <param name="deviceSetting">auto, cpu or cuda.</param>
    /// <param name="seed">Seed of every random choice the probes make.</param>
    /// <param name="inventory">The model's inspection when the caller has it already; null: inspected when a probe needs it.</param>
    /// <param name="timings">Optional observer of where probe time goes (benchmarks).</param>
    public EvaluationSession Open(string modelPath, string? datasetPath, string? deviceSetting, int seed, ModelInventory? inventory = null, ProbeTimings? timings = null)
    {
        ComputeDevice device = ComputeDevice.Resolve(deviceSetting);
        return new EvaluationSession(_catalog, _modelSources(modelPath, device), modelPath, datasetPath, device, seed, inventory, timings);
    }
}

/// <summary>
/// The probes of one audit, run one after another against the same model and evidence. Owns, for the audit's
/// lifetime, the imported model, the evidence tensors and the results probes share; disposing it releases them all.
/// </summary>
public sealed class EvaluationSession : IDisposable
{
    private readonly ProbeCatalog _catalog;
    private readonly IModelSource _models;
    private readonly string _modelPath;
    private readonly int _seed;
    private readonly ModelInventory? _inventory;
    private readonly ProbeTimings? _timings;
    private readonly AuditEvidence _evidence;
    private readonly SessionCache _cache = new();

    internal EvaluationSession(
        ProbeCatalog catalog, IModelSource models, string modelPath, string? datasetPath, ComputeDevice device, int seed, ModelInventory? inventory, ProbeTimings? timings)
    {
        _catalog = catalog;
        _models = models;
        _modelPath = modelPath;
        _seed = seed;
        _inventory = inventory;
        _timings = timings;
        _evidence = new AuditEvidence(datasetPath, device);
        Device = device;
    }

    /// <summary>Where tensors live for this audit; the report states it.</summary>
    public ComputeDevice Device { get; }

    /// <summary>
    /// Runs one probe. A probe that throws (other than on cancellation) yields an inconclusive outcome with
    /// the reason, never a pass: an audit must not pass because something could not run.
    /// </summary>
    public async Task<ProbeOutcome> RunAsync(ProbeInvocation invocation, IProgress<double> progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (!_catalog.TryGet(invocation.Probe, out IProbe probe))
        {
            return ProbeOutcome.Inconclusive($"Probe '{invocation.Probe}' is not available in this service.");
        }

        ProbeDescriptor descriptor = probe.Descriptor;
        var context = new ProbeContext
        {
            ModelPath = _modelPath,
            DatasetPath = _evidence.Path,
            Parameters = ProbeCatalog.WithDefaults(descriptor, invocation.Parameters),
            Threshold = invocation.Threshold ?? descriptor.DefaultThreshold,
            Seed = _seed,
            Device = Device,
            Models = _models,
            Progress = progress,
            Evidence = _evidence,
            Session = _cache,
            Inventory = _inventory,
            Timings = _timings,
        };

        try
        {
            return await probe.RunAsync(context, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
#pragma warning disable CA1031 // A failing probe becomes an inconclusive finding with its reason; the audit goes on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            // libtorch appends its native stack to messages; the finding keeps the sentence a person can act on.
            string reason = ex.Message.Split('\n', 2)[0].Trim();
            return ProbeOutcome.Inconclusive($"Probe '{descriptor.Name}' could not complete: {reason}");
        }
    }

    /// <summary>Releases the shared results, the evidence tensors and the imported model.</summary>
    public void Dispose()
    {
        _cache.Dispose();
        _evidence.Dispose();
        (_models as IDisposable)?.Dispose();
    }
}
