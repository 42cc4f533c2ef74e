using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Telemetry;
using Audit.Domain.Audits;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Mediator;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// Runs queued audits: claims one, runs its profile's probes in one evaluation session, records the results and
/// asks Reports to issue the signed report. One audit at a time per worker: probes already use every core through
/// libtorch, so <c>Audit:Worker:Concurrency</c> (workers per process) defaults to 1. It needs only DI services (no
/// HTTP), so the API process hosts it by default and the worker host (<c>src/Audit.Worker</c>) runs it on other
/// processes or machines: <c>services.AddAuditWorker(concurrency)</c>.
/// </summary>
public sealed class AuditWorker : BackgroundService
{
    private readonly AuditRepository _audits;
    private readonly ArtifactRepository _artifacts;
    private readonly ArtifactStore _store;
    private readonly ProbeRunner _runner;
    private readonly TimeProvider _time;
    private readonly AuditOptions _options;
    private readonly ILogger<AuditWorker> _logger;
    private readonly IServiceScopeFactory _scopes;
    private readonly AuditTelemetry _telemetry;
    private readonly AuditQueueSignal _queued;
    private readonly ProbeWarmUpGate _warmUp;
    private readonly string _workerId = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public AuditWorker(
        AuditRepository audits,
        ArtifactRepository artifacts,
        ArtifactStore store,
        ProbeRunner runner,
        TimeProvider time,
        IOptions<AuditOptions> options,
        ILogger<AuditWorker> logger,
        IServiceScopeFactory scopes,
        AuditTelemetry telemetry,
        AuditQueueSignal queued,
        ProbeWarmUpGate warmUp)
    {
        _warmUp = warmUp;
        _queued = queued;
        _telemetry = telemetry;
        _scopes = scopes;
        _audits = audits;
        _artifacts = artifacts;
        _store = store;
        _runner = runner;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _logger.LogInformation("Audit worker {Worker} started", _workerId);
        try
        {
            // Audits queued meanwhile wait (a few seconds after a start) instead of running beside the warm-up.
            await _warmUp.WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // Read before the claim: an audit queued after an empty claim still wakes this worker.
                Task queued = _queued.Next;
                AuditRow? audit = await _audits.TryClaimAsync(_workerId, _time.GetUtcNow(), _options.Worker.LeaseDuration, stoppingToken);
                if (audit is null)
                {
                    await AuditQueueSignal.WaitAsync(queued, _options.Worker.PollInterval, _time, stoppingToken);
                    continue;
                }

                _telemetry.WorkerBusy();
                try
                {
                    await RunAsync(audit, stoppingToken);
                }
                finally
                {
                    _telemetry.WorkerIdle();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
#pragma warning disable CA1031 // The worker must outlive any one audit's failure (e.g. a locked database); it retries.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogError(ex, "Audit worker loop failed; retrying");
                await Task.Delay(_options.Worker.PollInterval, _time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task RunAsync(AuditRow audit, CancellationToken stoppingToken)
    {
        using IDisposable? scope = _logger.BeginScope("Audit {AuditId} of tenant {TenantId}", audit.Id, audit.TenantId);
        _logger.LogInformation("Audit claimed (attempt {Attempt}) against profile {Profile}@{Version}", audit.Attempts, audit.ProfileId, audit.ProfileVersion);

        using var run = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        using var heartbeatStop = new CancellationTokenSource();
        var progress = new ProgressState(_time.GetUtcNow());
        var cancelledByRequest = new StrongBox<bool>();
        var leaseLost = new StrongBox<bool>();
        Task heartbeat = HeartbeatAsync(audit.Id, progress, run, heartbeatStop, cancelledByRequest, leaseLost);

        // How the audit ends is the aggregate's decision; the worker only says which ending happened.
        Action<Domain.Audits.Audit> finish;
        bool succeeded = false;
        var controls = new List<ControlResult>();
        var findings = new List<Finding>();
        var evidence = new List<EvidenceRow>();
        try
        {
            Verdict verdict = await EvaluateAsync(audit, progress, controls, findings, evidence, run.Token);
            finish = a => a.Succeed(_workerId, verdict, _time.GetUtcNow());
            succeeded = true;
            _logger.LogInformation("Audit succeeded with verdict {Verdict}", verdict);
        }
        catch (OperationCanceledException) when (cancelledByRequest.Value)
        {
            finish = a => a.ConfirmCancelled(_workerId, _time.GetUtcNow());
            controls.Clear();
            findings.Clear();
            evidence.Clear();
            _logger.LogInformation("Audit cancelled on request");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested || leaseLost.Value)
        {
            // Shutting down (or another worker took over): leave it running; its lease lapses and it is claimed again.
            _logger.LogWarning("Audit interrupted ({Reason}); it will be resumed", leaseLost.Value ? "lease lost" : "shutdown");
            await run.CancelAsync();
            await heartbeatStop.CancelAsync();
            await heartbeat.ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }
        catch (Exception ex) when (ex is ModelRejectedException or UnsupportedOperatorException or Audit.Evaluators.Datasets.EvidenceRejectedException)
        {
            string error = ServerPaths.Redact(string.IsNullOrWhiteSpace(ex.Message) ? ex.GetType().Name : ex.Message)!;
            finish = a => a.Fail(_workerId, error, _time.GetUtcNow());
            _logger.LogWarning("Audit failed: {Error}", ex.Message);
        }
#pragma warning disable CA1031 // An audit that breaks is recorded as failed with its reason; the service stays up.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            string error = ServerPaths.Redact($"The audit could not complete: {ex.Message}")!;
            finish = a => a.Fail(_workerId, error, _time.GetUtcNow());
            _logger.LogError(ex, "Audit failed");
        }

        await run.CancelAsync();
        await heartbeatStop.CancelAsync();
        await heartbeat.ContinueWith(_ => { }, TaskScheduler.Default);
        AuditStatus? ended = await RecordAsync(audit.Id, finish, succeeded, controls, findings, evidence);
        if (ended is null)
        {
            _logger.LogWarning("Audit result discarded: the lease was lost (another worker, or a cancellation that won)");
        }
        else if (ended == AuditStatus.Succeeded)
        {
            await IssueReportAsync(audit, stoppingToken);
        }
    }

    /// <summary>
    /// Stores how the attempt ended. If a success cannot be stored (its results break a constraint, the disk is
    /// full) the audit fails with that reason instead of being claimed again and again; if even that cannot be
    /// stored the reason is recorded on the attempt, so the attempt limit ends the audit with it.
    /// </summary>
    private async Task<AuditStatus?> RecordAsync(
        string id, Action<Domain.Audits.Audit> finish, bool succeeded, List<ControlResult> controls, List<Finding> findings, List<EvidenceRow> evidence)
    {
        try
        {
            return await _audits.CompleteAsync(id, finish, controls, findings, evidence, CancellationToken.None);
        }
#pragma warning disable CA1031 // Whatever broke storing the result is the audit's error; the worker goes on.
        catch (Exception ex) when (succeeded)
        {
            _logger.LogError(ex, "Storing the audit's results failed; recording it as failed");
            string error = ServerPaths.Redact($"The audit's results could not be stored: {ex.Message}")!;
            try
            {
                return await _audits.CompleteAsync(id, a => a.Fail(_workerId, error, _time.GetUtcNow()), [], [], [], CancellationToken.None);
            }
            catch (Exception again)
            {
                await RecordAttemptErrorAsync(id, error, again);
                return null;
            }
        }
        catch (Exception ex)
        {
            await RecordAttemptErrorAsync(id, ServerPaths.Redact($"The audit's outcome could not be stored: {ex.Message}")!, ex);
            return null;
        }
    }

    private async Task RecordAttemptErrorAsync(string id, string error, Exception cause)
    {
        _logger.LogError(cause, "Storing the audit's outcome failed; the attempt's error is recorded and the audit retried");
        try
        {
            await _audits.RecordAttemptErrorAsync(id, _workerId, error, CancellationToken.None);
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Recording the attempt's error failed too; the lease lapses and the audit is retried");
        }
    }
#pragma warning restore CA1031

    /// <summary>
    /// Issues the signed report as soon as the audit succeeded. A failure here never fails the audit: the first
    /// download issues the report again (idempotently) if this did not complete.
    /// </summary>
    private async Task IssueReportAsync(AuditRow audit, CancellationToken stoppingToken)
    {
        try
        {
            // Reports is another feature: the worker asks it through the mediator, in a scope of its own.
            await using AsyncServiceScope scope = _scopes.CreateAsyncScope();
            IssuedReport? report = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new IssueReport(audit.Id), stoppingToken);
            _logger.LogInformation("Report {ReportId} issued (transparency log index {LogIndex})", report?.ReportId, report?.LogIndex);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            _logger.LogWarning("Report issuing interrupted by shutdown; it is issued on first download");
        }
#pragma warning disable CA1031 // The audit result is recorded; a report failure is logged and retried on download.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _logger.LogError(ex, "Report issuing failed; it is retried on first download");
        }
    }

    private async Task<Verdict> EvaluateAsync(
        AuditRow audit,
        ProgressState progress,
        List<ControlResult> controls,
        List<Finding> findings,
        List<EvidenceRow> evidence,
        CancellationToken cancellationToken)
    {
        Profile profile = audit.Profile();
        IReadOnlyDictionary<string, ArtifactRow> artifacts = await _artifacts.FindManyAsync(
            audit.TenantId, new[] { audit.ModelArtifactId, audit.DatasetArtifactId }.OfType<string>(), cancellationToken);
        ArtifactRow model = artifacts[audit.ModelArtifactId];
        ArtifactRow? dataset = audit.DatasetArtifactId is null ? null : artifacts[audit.DatasetArtifactId];
        // The evaluators read files: on a remote store these are verified local copies, removed when the audit ends.
        using LocalBlob modelFile = await _store.OpenLocalAsync(model.Sha256, model.SizeBytes, cancellationToken)
            ?? throw new InvalidOperationException($"The content {model.Sha256} of model '{model.Id}' is no longer stored.");
        using LocalBlob? datasetFile = dataset is null ? null : await _store.OpenLocalAsync(dataset.Sha256, dataset.SizeBytes, cancellationToken)
            ?? throw new InvalidOperationException($"The content {dataset.Sha256} of dataset '{dataset.Id}' is no longer stored.");
        string modelPath = modelFile.Path;
        string? datasetPath = datasetFile?.Path;

        // The upload inspected the model and stored the inventory with the artifact; it is read, not re-parsed.
        ModelInventory inventory = StoredInventory(model) ?? ModelInspector.Inspect(modelPath);
        if (inventory.UnsupportedOperators.Count > 0)
        {
            throw new UnsupportedOperatorException(inventory.UnsupportedOperators);
        }

        // The upload ran the model once on a synthetic input; one that could not run is not run again here (a native
        // abort would take this process down): the audit fails at once with the upload's reason.
        if (inventory.Executable == false)
        {
            throw new ModelRejectedException(ModelRejectionReason.Malformed, "The model could not run on a synthetic input of its declared shape: " + inventory.ExecutionError);
        }

        HashSet<EvidenceRequirement> available = AvailableEvidence(dataset);
        // Progress advances by each probe's expected cost, not by count: a trigger scan is most of an audit.
        IReadOnlyList<double> weights = ProbeCosts.Plan(profile, c => c.Evidence.All(available.Contains));
        var done = new WeightedProgress(weights);

        // The inspection above is handed on, so the model-inventory probe does not parse the file again. Every probe
        // is started at once and the session schedules them (lane probes on one-thread lanes, see EvaluationSession); the
        // findings are taken in the profile's order, so their sequence and the live events read as before. Leaving
        // early (cancellation, a failed write) cancels the probes still running before the session is released.
        using EvaluationSession session = _runner.Open(modelPath, datasetPath, _options.Device, (int)audit.Seed, inventory);
        using var probesCancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await _audits.SetDeviceAsync(audit.Id, session.Device.Name, cancellationToken);
        var runs = new Task<ProbeOutcome>?[weights.Count];
        int index = 0;
        foreach (Control control in profile.Controls)
        {
            foreach (ProbeRequirement requirement in control.Probes)
            {
                int slot = index++;
                if (control.Evidence.All(available.Contains))
                {
                    var reporter = new Progress<double>(p => progress.Advance(done.Report(slot, p)));
                    runs[slot] = RunProbeAsync(audit, session, control, requirement, reporter, probesCancel.Token);
                }
            }
        }

        try
        {
            return await CollectFindingsAsync(audit, profile, available, runs, progress, controls, findings, evidence, cancellationToken);
        }
        finally
        {
            await probesCancel.CancelAsync();
        }
    }

    /// <summary>Takes each probe's outcome in the profile's order, records it as a finding as it comes, and combines controls.</summary>
    private async Task<Verdict> CollectFindingsAsync(
        AuditRow audit,
        Profile profile,
        HashSet<EvidenceRequirement> available,
        Task<ProbeOutcome>?[] runs,
        ProgressState progress,
        List<ControlResult> controls,
        List<Finding> findings,
        List<EvidenceRow> evidence,
        CancellationToken cancellationToken)
    {
        int index = 0;
        foreach (Control control in profile.Controls)
        {
            var missing = control.Evidence.Where(e => !available.Contains(e)).ToList();
            if (missing.Count > 0)
            {
                controls.Add(ControlVerdicts.MissingEvidence(control, missing));
                index += control.Probes.Count;
                continue;
            }

            var controlFindings = new List<Finding>();
            foreach (ProbeRequirement requirement in control.Probes)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress.Step = $"{requirement.Probe} ({control.Id})";
                await RecordStepAsync(audit.Id, progress, cancellationToken);
                ProbeOutcome outcome = await runs[index++]!;
                JsonObject details = outcome.Details;
                int evidenceBefore = evidence.Count;
                if (outcome.Evidence.Count > 0)
                {
                    details["evidence"] = await StoreEvidenceAsync(audit, outcome, evidence, cancellationToken);
                }

                // A probe that broke says why in its summary; the reason may name a server path, which is stored redacted.
                controlFindings.Add(new Finding(control.Id, requirement.Probe, outcome.Verdict, outcome.Score, ServerPaths.Redact(outcome.Summary)!, details, requirement.Role));
                await RecordFindingAsync(audit.Id, findings.Count + controlFindings.Count - 1, controlFindings[^1], evidence[evidenceBefore..], cancellationToken);
                _logger.LogInformation("Probe {Probe} → {Verdict} (score {Score})", requirement.Probe, outcome.Verdict, outcome.Score);
            }

            findings.AddRange(controlFindings);
            controls.Add(ControlVerdicts.Combine(control, controlFindings));
        }

        return ControlVerdicts.Overall(controls);
    }

    /// <summary>Records the step as it starts; progress display must never fail an audit, so a failed write is only logged.</summary>
    private async Task RecordStepAsync(string id, ProgressState progress, CancellationToken cancellationToken)
    {
        try
        {
            await _audits.SetLiveStateAsync(id, _workerId, progress.Step, progress.EstimatedEnd(_time.GetUtcNow()), cancellationToken);
        }
        catch (System.Data.Common.DbException ex)
        {
            _logger.LogWarning(ex, "Recording the current step failed; the next heartbeat records it");
        }
    }

    /// <summary>
    /// Records a probe's finding as it finishes, so it is visible and announced during the run; like the step, a
    /// failed write is only logged (the complete results are stored when the audit ends).
    /// </summary>
    private async Task RecordFindingAsync(string id, int seq, Finding finding, List<EvidenceRow> evidence, CancellationToken cancellationToken)
    {
        try
        {
            await _audits.RecordFindingAsync(id, _workerId, seq, finding, evidence, cancellationToken);
        }
        catch (System.Data.Common.DbException ex)
        {
            _logger.LogWarning(ex, "Recording the finding of {Probe} failed; it is stored with the audit's results", finding.Probe);
        }
    }

    /// <summary>One probe run inside a span (audit, probe, control, device) and timed into the probe duration histogram.</summary>
    private async Task<ProbeOutcome> RunProbeAsync(
        AuditRow audit, EvaluationSession session, Control control, ProbeRequirement requirement, IProgress<double> reporter, CancellationToken cancellationToken)
    {
        using Activity? activity = AuditTelemetry.Source.StartActivity($"probe {requirement.Probe}");
        activity?.SetTag("audit.id", audit.Id);
        activity?.SetTag("audit.tenant", audit.TenantId);
        activity?.SetTag("audit.probe", requirement.Probe);
        activity?.SetTag("audit.control", control.Id);
        activity?.SetTag("audit.device", session.Device.Name);
        long started = _time.GetTimestamp();
        string outcome = "error";
        try
        {
            // The duration counts from the probe's start, not from its wait for a lane or for the probes before it.
            ProbeOutcome result = await session.RunAsync(
                new ProbeInvocation(requirement.Probe, requirement.Parameters, requirement.Threshold), reporter, cancellationToken, () =>
                {
                    started = _time.GetTimestamp();
                    _logger.LogInformation("Running probe {Probe} for control {Control}", requirement.Probe, control.Id);
                });
            outcome = result.Verdict.ToString().ToLowerInvariant();
            activity?.SetTag("audit.verdict", outcome);
            return result;
        }
        catch (OperationCanceledException)
        {
            outcome = "cancelled";
            throw;
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
        finally
        {
            _telemetry.ProbeRan(requirement.Probe, session.Device.Name, outcome, _time.GetElapsedTime(started));
        }
    }

    /// <summary>
    /// Stores each evidence file once, by content, in the blob store and returns the references the finding keeps
    /// (id, media type, caption and the URL that serves it); the rows are recorded with the findings.
    /// </summary>
    private async Task<JsonArray> StoreEvidenceAsync(AuditRow audit, ProbeOutcome outcome, List<EvidenceRow> evidence, CancellationToken cancellationToken)
    {
        var references = new JsonArray();
        foreach (EvidenceFile file in outcome.Evidence)
        {
            using var content = new MemoryStream(file.Content, writable: false);
            StoredBlob blob = await _store.SaveAsync(content, file.Content.LongLength, cancellationToken);
            var row = new EvidenceRow(
                "evd_" + Guid.NewGuid().ToString("N"), audit.Id, audit.TenantId, evidence.Count, file.Name, file.MediaType, file.Caption, blob.Sha256, blob.SizeBytes);
            evidence.Add(row);
            references.Add(new JsonObject
            {
                ["id"] = row.Id,
                ["name"] = row.Name,
                ["mediaType"] = row.MediaType,
                ["caption"] = row.Caption,
                ["sizeBytes"] = row.SizeBytes,
                ["href"] = $"/api/v1/audits/{audit.Id}/evidence/{row.Id}",
            });
        }

        return references;
    }

    /// <summary>The model inventory the upload stored; null for rows stored without one.</summary>
    private static ModelInventory? StoredInventory(ArtifactRow model) =>
        model.SummaryJson is null ? null : JsonSerializer.Deserialize<ModelInventory>(model.SummaryJson, InventoryJson.Options);

    /// <summary>What evidence the audit's dataset can serve, judged from the format and tensors stored at upload.</summary>
    private static HashSet<EvidenceRequirement> AvailableEvidence(ArtifactRow? dataset)
    {
        var available = new HashSet<EvidenceRequirement>();
        if (dataset is null)
        {
            return available;
        }

        if (dataset.Format == "jsonl")
        {
            available.Add(EvidenceRequirement.SequencePrompts);
        }
        else if (dataset.Summary?["tensors"] is JsonObject tensors && tensors.ContainsKey("inputs"))
        {
            available.Add(EvidenceRequirement.Dataset);
            if (tensors.ContainsKey("labels"))
            {
                available.Add(EvidenceRequirement.LabelledDataset);
            }
        }

        return available;
    }

    /// <summary>
    /// Renews the lease until <paramref name="stop"/>. A cancel request cancels <paramref name="run"/> but the
    /// heartbeat goes on: if the run is stuck and does not notice, the aggregate lets the lease lapse and the next
    /// heartbeat ends the audit cancelled, so a cancellation never waits on a stuck probe.
    /// </summary>
    private async Task HeartbeatAsync(
        string id, ProgressState progress, CancellationTokenSource run, CancellationTokenSource stop, StrongBox<bool> cancelled, StrongBox<bool> lost)
    {
        // Cancellation must stop a probe within about a second, so the flag is read at least that often.
        TimeSpan interval = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.Worker.LeaseDuration.Ticks / 3));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _time, stop.Token);
                (bool owned, bool cancelRequested) = await _audits.HeartbeatAsync(
                    id, _workerId, progress.Value, _time.GetUtcNow(), _options.Worker.LeaseDuration, stop.Token);
                if (owned && progress.Step is { } step)
                {
                    await _audits.SetLiveStateAsync(id, _workerId, step, progress.EstimatedEnd(_time.GetUtcNow()), stop.Token);
                }

                if (!owned)
                {
                    lost.Value = true;
                    await run.CancelAsync();
                    return;
                }

                if (cancelRequested && !cancelled.Value)
                {
                    cancelled.Value = true;
                    await run.CancelAsync();
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
#pragma warning disable CA1031 // A missed heartbeat is retried; the lease tolerates a few.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogWarning(ex, "Heartbeat failed; retrying");
            }
        }
    }

    /// <summary>What the probe loop reports and the heartbeat records: weighted progress and the current step.</summary>
    private sealed class ProgressState
    {
        // Below this much progress an estimate extrapolates from too little (model load, first batches).
        private const double MinimumForEstimate = 0.02;

        private readonly DateTimeOffset _started;
        private double _value;
        private string? _step;

        public ProgressState(DateTimeOffset started)
        {
            _started = started;
        }

        public double Value => Volatile.Read(ref _value);

        /// <summary>Raises the progress to <paramref name="value"/> unless it is already there: reports race, progress only grows.</summary>
        public void Advance(double value)
        {
            double seen = Volatile.Read(ref _value);
            while (value > seen)
            {
                double was = Interlocked.CompareExchange(ref _value, value, seen);
                if (was == seen)
                {
                    return;
                }

                seen = was;
            }
        }

        public string? Step
        {
            get => Volatile.Read(ref _step);
            set => Volatile.Write(ref _step, value);
        }

        /// <summary>
        /// The end this attempt's pace predicts: the time it has run so far, scaled by the cost-weighted work left.
        /// Null until enough progress has been made to extrapolate.
        /// </summary>
        public DateTimeOffset? EstimatedEnd(DateTimeOffset now)
        {
            double p = Value;
            if (p < MinimumForEstimate)
            {
                return null;
            }

            TimeSpan elapsed = now - _started;
            return now + (elapsed * ((1 - p) / p));
        }
    }

    private sealed class StrongBox<T>
    {
        public T Value { get; set; } = default!;
    }
}

/// <summary>Registers the audit workers; any host with the persistence, evaluator and report services can run them.</summary>
public static class AuditWorkerSetup
{
    /// <summary>
    /// Registers <paramref name="concurrency"/> workers (<c>Audit:Worker:Concurrency</c>), each its own hosted service
    /// with its own worker id, so each claims, renews and finishes its audit under a lease of its own: running N
    /// audits in one process is the same protocol as N processes running one each.
    /// </summary>
    public static IServiceCollection AddAuditWorker(this IServiceCollection services, int concurrency = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(concurrency, 1);
        services.TryAddSingleton<AuditQueueSignal>();
        services.TryAddSingleton<ProbeWarmUpGate>();
        for (int slot = 0; slot < concurrency; slot++)
        {
            services.AddSingleton<IHostedService>(sp => ActivatorUtilities.CreateInstance<AuditWorker>(sp));
        }

        return services;
    }
}
