using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Mediator;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Audits.Running;

/// <summary>
/// Runs queued audits: claims one, runs its profile's probes in one evaluation session, records the results and
/// asks Reports to issue the signed report. One audit at a time: probes already use every core through libtorch,
/// and a second audit would only slow both. It needs only DI services (no HTTP), so the API process hosts it by
/// default and a separate worker host can run it too: <c>services.AddAuditWorker()</c>.
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
    private readonly string _workerId = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public AuditWorker(
        AuditRepository audits,
        ArtifactRepository artifacts,
        ArtifactStore store,
        ProbeRunner runner,
        TimeProvider time,
        IOptions<AuditOptions> options,
        ILogger<AuditWorker> logger,
        IServiceScopeFactory scopes)
    {
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
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                AuditRow? audit = await _audits.TryClaimAsync(_workerId, _time.GetUtcNow(), _options.Worker.LeaseDuration, stoppingToken);
                if (audit is null)
                {
                    await Task.Delay(_options.Worker.PollInterval, _time, stoppingToken);
                    continue;
                }

                await RunAsync(audit, stoppingToken);
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
        var progress = new ProgressState();
        var cancelledByRequest = new StrongBox<bool>();
        var leaseLost = new StrongBox<bool>();
        Task heartbeat = HeartbeatAsync(audit.Id, progress, run, cancelledByRequest, leaseLost);

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
            await heartbeat.ContinueWith(_ => { }, TaskScheduler.Default);
            return;
        }
        catch (Exception ex) when (ex is ModelRejectedException or UnsupportedOperatorException or Audit.Evaluators.Datasets.EvidenceRejectedException)
        {
            string error = string.IsNullOrWhiteSpace(ex.Message) ? ex.GetType().Name : ex.Message;
            finish = a => a.Fail(_workerId, error, _time.GetUtcNow());
            _logger.LogWarning("Audit failed: {Error}", ex.Message);
        }
#pragma warning disable CA1031 // An audit that breaks is recorded as failed with its reason; the service stays up.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            string error = $"The audit could not complete: {ex.Message}";
            finish = a => a.Fail(_workerId, error, _time.GetUtcNow());
            _logger.LogError(ex, "Audit failed");
        }

        await run.CancelAsync();
        await heartbeat.ContinueWith(_ => { }, TaskScheduler.Default);
        bool recorded = await _audits.CompleteAsync(audit.Id, finish, controls, findings, evidence, CancellationToken.None);
        if (!recorded)
        {
            _logger.LogWarning("Audit result discarded: the lease was lost to another worker");
        }
        else if (succeeded)
        {
            await IssueReportAsync(audit, stoppingToken);
        }
    }

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
        string modelPath = _store.PathFor(model.Sha256);
        string? datasetPath = dataset is null ? null : _store.PathFor(dataset.Sha256);

        // The upload inspected the model and stored the inventory with the artifact; it is read, not re-parsed.
        ModelInventory inventory = StoredInventory(model) ?? ModelInspector.Inspect(modelPath);
        if (inventory.UnsupportedOperators.Count > 0)
        {
            throw new UnsupportedOperatorException(inventory.UnsupportedOperators);
        }

        HashSet<EvidenceRequirement> available = AvailableEvidence(dataset);
        int total = Math.Max(1, profile.Controls.Sum(c => c.Probes.Count));
        int done = 0;

        // The inspection above is handed on, so the model-inventory probe does not parse the file again.
        using EvaluationSession session = _runner.Open(modelPath, datasetPath, _options.Device, (int)audit.Seed, inventory);
        await _audits.SetDeviceAsync(audit.Id, session.Device.Name, cancellationToken);
        foreach (Control control in profile.Controls)
        {
            var missing = control.Evidence.Where(e => !available.Contains(e)).ToList();
            if (missing.Count > 0)
            {
                controls.Add(ControlVerdicts.MissingEvidence(control, missing));
                done += control.Probes.Count;
                progress.Value = (double)done / total;
                continue;
            }

            var controlFindings = new List<Finding>();
            foreach (ProbeRequirement requirement in control.Probes)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int before = done;
                var reporter = new Progress<double>(p => progress.Value = (before + Math.Clamp(p, 0, 1)) / total);
                _logger.LogInformation("Running probe {Probe} for control {Control}", requirement.Probe, control.Id);
                ProbeOutcome outcome = await session.RunAsync(
                    new ProbeInvocation(requirement.Probe, requirement.Parameters, requirement.Threshold), reporter, cancellationToken);
                JsonObject details = outcome.Details;
                if (outcome.Evidence.Count > 0)
                {
                    details["evidence"] = await StoreEvidenceAsync(audit, outcome, evidence, cancellationToken);
                }

                controlFindings.Add(new Finding(control.Id, requirement.Probe, outcome.Verdict, outcome.Score, outcome.Summary, details));
                _logger.LogInformation("Probe {Probe} → {Verdict} (score {Score})", requirement.Probe, outcome.Verdict, outcome.Score);
                done++;
                progress.Value = (double)done / total;
            }

            findings.AddRange(controlFindings);
            controls.Add(ControlVerdicts.Combine(control, controlFindings));
        }

        return ControlVerdicts.Overall(controls);
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

    private async Task HeartbeatAsync(string id, ProgressState progress, CancellationTokenSource run, StrongBox<bool> cancelled, StrongBox<bool> lost)
    {
        // Cancellation must stop a probe within about a second, so the flag is read at least that often.
        TimeSpan interval = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.Worker.LeaseDuration.Ticks / 3));
        while (!run.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, _time, run.Token);
                (bool owned, bool cancelRequested) = await _audits.HeartbeatAsync(
                    id, _workerId, progress.Value, _time.GetUtcNow(), _options.Worker.LeaseDuration, run.Token);
                if (!owned)
                {
                    lost.Value = true;
                    await run.CancelAsync();
                }
                else if (cancelRequested)
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

    private sealed class ProgressState
    {
        private double _value;

        public double Value
        {
            get => Volatile.Read(ref _value);
            set => Volatile.Write(ref _value, value);
        }
    }

    private sealed class StrongBox<T>
    {
        public T Value { get; set; } = default!;
    }
}

/// <summary>Registers the audit worker; any host with the persistence, evaluator and report services can run it.</summary>
public static class AuditWorkerSetup
{
    public static IServiceCollection AddAuditWorker(this IServiceCollection services) => services.AddHostedService<AuditWorker>();
}
