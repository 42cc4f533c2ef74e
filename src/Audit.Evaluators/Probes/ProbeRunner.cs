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
    /// <param name="lanes">Lane probes run at once (see <see cref="ProbeDescriptor.RunsInLane"/>); null: <see cref="DefaultLanes"/>.</param>
    public EvaluationSession Open(string modelPath, string? datasetPath, string? deviceSetting, int seed, ModelInventory? inventory = null, ProbeTimings? timings = null, int? lanes = null)
    {
        ComputeDevice device = ComputeDevice.Resolve(deviceSetting);
        // Before any probe computes: a processor whose oneDNN convolutions are wrong gets libtorch's own kernels.
        Runtime.ConvolutionKernelCheck.EnsureVerified();
        return new EvaluationSession(_catalog, _modelSources(modelPath, device), modelPath, datasetPath, device, seed, inventory, timings, Math.Max(1, lanes ?? DefaultLanes));
    }

    /// <summary>
    /// Lane probes run at once by default: two where the host has two processors or more. Each lane runs its probe on one
    /// libtorch thread, so the findings are the same with one lane or two (<c>LaneDeterminismTests</c>). Two lanes were
    /// off until 2026-12-02: lane probes side by side failed inside libtorch now and then, which was TorchSharp freeing
    /// temporary scalars mid-call (docs/benchmarks.md, "TorchSharp frees temporary scalars during libtorch calls").
    /// </summary>
    public static int DefaultLanes => Math.Min(2, Environment.ProcessorCount);
}

/// <summary>
/// The probes of one audit, run against the same model and evidence. Owns, for the audit's lifetime, the imported
/// model, the evidence tensors and the results probes share; disposing it releases them all (after every probe it
/// started has ended).
/// </summary>
/// <remarks>
/// Scheduling: probes start in the order <see cref="RunAsync"/> is called. A lane probe
/// (<see cref="ProbeDescriptor.RunsInLane"/>) runs on a lane thread set to one libtorch thread, beside up to
/// <c>lanes</c> − 1 other lane probes (<see cref="ProbeRunner.DefaultLanes"/>: two on two processors or more); any
/// other probe waits for everything started before it, runs alone with the host's threads, and holds back everything
/// started after it. The deception probes are streams of small tensor operations that a second intra-op thread barely
/// speeds up (1.16 CPU-s per second), so one thread costs them little and makes their numbers independent of the
/// host's thread count.
/// </remarks>
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
    private readonly SemaphoreSlim _lanes;
    private readonly Lock _laneStart = new();
    private ProbeLanes? _laneThreads;
    private readonly Lock _order = new();
    private readonly List<Task> _started = [];
    private Task _alone = Task.CompletedTask;
    private bool _disposed;
    private readonly List<Task> _inLanesSinceAlone = [];

    internal EvaluationSession(
        ProbeCatalog catalog, IModelSource models, string modelPath, string? datasetPath, ComputeDevice device, int seed, ModelInventory? inventory, ProbeTimings? timings, int lanes)
    {
        _lanes = new SemaphoreSlim(lanes, lanes);
        Lanes = lanes;
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

    /// <summary>How many lane probes may run at once.</summary>
    public int Lanes { get; }

    /// <summary>
    /// Starts one probe and returns its outcome when it ends. Calls may overlap: the probe is scheduled after those
    /// of earlier calls (see the class remarks), so a caller can start every probe of an audit and await them in
    /// order. A probe that throws (other than on cancellation) yields an inconclusive outcome with the reason, never a
    /// pass: an audit must not pass because something could not run.
    /// </summary>
    /// <param name="invocation">The probe and its parameters.</param>
    /// <param name="progress">The probe's progress in [0, 1].</param>
    /// <param name="cancellationToken">Cancels the probe, waiting or running.</param>
    /// <param name="started">Called when the probe starts running (after any wait for a lane or for earlier probes).</param>
    public Task<ProbeOutcome> RunAsync(ProbeInvocation invocation, IProgress<double> progress, CancellationToken cancellationToken, Action? started = null)
    {
        ArgumentNullException.ThrowIfNull(invocation);
        if (!_catalog.TryGet(invocation.Probe, out IProbe probe))
        {
            return Task.FromResult(ProbeOutcome.Inconclusive($"Probe '{invocation.Probe}' is not available in this service."));
        }

        lock (_order)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Task<ProbeOutcome> run;
            if (probe.Descriptor.RunsInLane)
            {
                run = RunInLaneAsync(probe, invocation, progress, _alone, started, cancellationToken);
                _inLanesSinceAlone.Add(run);
            }
            else
            {
                Task before = Task.WhenAll([_alone, .. _inLanesSinceAlone]);
                run = RunAloneAsync(probe, invocation, progress, before, started, cancellationToken);
                _alone = run;
                _inLanesSinceAlone.Clear();
            }

            _started.Add(run);
            if (probe is IOffersIdleWork offers)
            {
                // Offered now, while earlier probes still run: their lanes may do this probe's first part while they wait.
                offers.OfferIdleWork(Context(probe.Descriptor, invocation, progress, null));
            }

            return run;
        }
    }

    private async Task<ProbeOutcome> RunInLaneAsync(IProbe probe, ProbeInvocation invocation, IProgress<double> progress, Task before, Action? started, CancellationToken cancellationToken)
    {
        await before.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _lanes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // A lane freed by a cancelled probe may be handed to a waiter cancelled by the same request.
            cancellationToken.ThrowIfCancellationRequested();
            started?.Invoke();
            return await ExecuteAsync(probe, invocation, progress, LaneThreads(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lanes.Release();
        }
    }

    private async Task<ProbeOutcome> RunAloneAsync(IProbe probe, ProbeInvocation invocation, IProgress<double> progress, Task before, Action? started, CancellationToken cancellationToken)
    {
        await before.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();
        started?.Invoke();
        return await ExecuteAsync(probe, invocation, progress, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The lane threads, started by the first lane probe: every probe started before it has ended then, and the
    /// lane probes beside it wait here, so setting the threads' libtorch counts races with no computation.
    /// </summary>
    private ProbeLanes LaneThreads()
    {
        lock (_laneStart)
        {
            return _laneThreads ??= ProbeLanes.Start(Lanes);
        }
    }

    private ProbeContext Context(ProbeDescriptor descriptor, ProbeInvocation invocation, IProgress<double> progress, ProbeLanes? lane) =>
        new()
        {
            ModelPath = _modelPath,
            DatasetPath = _evidence.Path,
            Parameters = ProbeCatalog.WithDefaults(descriptor, invocation.Parameters),
            Threshold = invocation.Threshold ?? descriptor.DefaultThreshold,
            ThresholdFromProfile = invocation.Threshold is not null,
            Seed = _seed,
            Device = Device,
            Models = _models,
            Progress = progress,
            Evidence = _evidence,
            Session = _cache,
            Inventory = _inventory,
            Timings = _timings,
            Lane = lane,
        };

    private async Task<ProbeOutcome> ExecuteAsync(IProbe probe, ProbeInvocation invocation, IProgress<double> progress, ProbeLanes? lane, CancellationToken cancellationToken)
    {
        ProbeDescriptor descriptor = probe.Descriptor;
        // Profiles are checked when they are stored, but a stored profile outlives the probe version it was checked
        // against: a parameter since withdrawn (trojan-likelihood's scan settings, 2026-12-06) would otherwise be
        // dropped without a word and the probe run at settings the profile did not ask for.
        IReadOnlyList<(string Parameter, string Message)> invalid = ProbeCatalog.Validate(descriptor, invocation.Parameters);
        if (invalid.Count > 0)
        {
            ProbeOutcome refused = ProbeOutcome.Inconclusive(
                $"Probe '{descriptor.Name}' did not run: the profile's parameters are not valid for this service version. {string.Join(" ", invalid.Select(e => e.Message))}");
            refused.Details["invalidParameters"] = new System.Text.Json.Nodes.JsonArray([.. invalid.Select(e => (System.Text.Json.Nodes.JsonNode?)e.Parameter)]);
            return refused;
        }

        ProbeContext context = Context(descriptor, invocation, progress, lane);
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
            ProbeOutcome outcome = ProbeOutcome.Inconclusive($"Probe '{descriptor.Name}' could not complete: {reason}");
            outcome.Details["failure"] = Failure(ex);
            return outcome;
        }
    }

    /// <summary>
    /// Where a probe failed, for whoever must find out why: the exception's type and the innermost managed frames as
    /// type and method names (a libtorch message such as "Expected false to be true" names no operation; the frame
    /// that called into libtorch does). Names only: no file paths or line numbers of this server.
    /// </summary>
    private static System.Text.Json.Nodes.JsonObject Failure(Exception ex)
    {
        const int Frames = 12;
        var at = new System.Text.Json.Nodes.JsonArray();
        foreach (System.Diagnostics.StackFrame frame in new System.Diagnostics.StackTrace(ex, fNeedFileInfo: false).GetFrames().Take(Frames))
        {
            System.Reflection.MethodBase? method = frame.GetMethod();
            at.Add(method is null ? "?" : $"{method.DeclaringType?.FullName ?? "?"}.{method.Name}");
        }

        return new System.Text.Json.Nodes.JsonObject { ["type"] = ex.GetType().FullName, ["at"] = at };
    }

    /// <summary>
    /// Releases the shared results, the evidence tensors and the imported model, once every probe started has ended
    /// (a caller that stops awaiting early, e.g. on cancellation, must not free tensors a running probe still reads).
    /// </summary>
    public void Dispose()
    {
        Task[] started;
        lock (_order)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            started = [.. _started];
        }

        Task.WhenAll(started).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing).GetAwaiter().GetResult();
        _lanes.Dispose();
        _laneThreads?.Dispose();
        _cache.Dispose();
        _evidence.Dispose();
        (_models as IDisposable)?.Dispose();
    }
}
