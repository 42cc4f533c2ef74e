using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Domain.Audits;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Microsoft.Extensions.Options;

namespace Audit.Api.Worker;

/// <summary>
/// Runs queued audits inside the API process (the embedded default). One audit at a time: probes already use
/// every core through libtorch, and a second audit would only slow both.
/// </summary>
public sealed class AuditWorker : BackgroundService
{
    private readonly AuditQueue _queue;
    private readonly AuditStore _audits;
    private readonly ArtifactStore _store;
    private readonly ProbeRunner _runner;
    private readonly TimeProvider _time;
    private readonly AuditOptions _options;
    private readonly ILogger<AuditWorker> _logger;
    private readonly ReportIssuing _reports;
    private readonly string _workerId = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public AuditWorker(
        AuditQueue queue,
        AuditStore audits,
        ArtifactStore store,
        ProbeRunner runner,
        TimeProvider time,
        IOptions<AuditOptions> options,
        ILogger<AuditWorker> logger,
        ReportIssuing reports)
    {
        _reports = reports;
        _queue = queue;
        _audits = audits;
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
                AuditRow? audit = await _queue.TryClaimAsync(_workerId, _time.GetUtcNow(), _options.Worker.LeaseDuration, stoppingToken);
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

        string status;
        Verdict? verdict = null;
        string? error = null;
        var controls = new List<ControlResult>();
        var findings = new List<Finding>();
        try
        {
            verdict = await EvaluateAsync(audit, progress, controls, findings, run.Token);
            status = AuditStatus.Succeeded.ToWire();
            _logger.LogInformation("Audit succeeded with verdict {Verdict}", verdict);
        }
        catch (OperationCanceledException) when (cancelledByRequest.Value)
        {
            status = AuditStatus.Cancelled.ToWire();
            controls.Clear();
            findings.Clear();
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
            status = AuditStatus.Failed.ToWire();
            error = ex.Message;
            _logger.LogWarning("Audit failed: {Error}", ex.Message);
        }
#pragma warning disable CA1031 // An audit that breaks is recorded as failed with its reason; the service stays up.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            status = AuditStatus.Failed.ToWire();
            error = $"The audit could not complete: {ex.Message}";
            _logger.LogError(ex, "Audit failed");
        }

        await run.CancelAsync();
        await heartbeat.ContinueWith(_ => { }, TaskScheduler.Default);
        bool recorded = await _queue.CompleteAsync(audit.Id, _workerId, status, verdict, error, controls, findings, _time.GetUtcNow(), CancellationToken.None);
        if (!recorded)
        {
            _logger.LogWarning("Audit result discarded: the lease was lost to another worker");
        }
        else if (status == AuditStatus.Succeeded.ToWire())
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
            IssuedReport? report = await _reports.EnsureIssuedAsync(audit.TenantId, audit.Id, stoppingToken);
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
        AuditRow audit, ProgressState progress, List<ControlResult> controls, List<Finding> findings, CancellationToken cancellationToken)
    {
        Profile profile = AuditQueue.ProfileOf(audit);
        var hashes = (await _audits.ArtifactHashesAsync(audit.TenantId, new[] { audit.ModelArtifactId, audit.DatasetArtifactId }.OfType<string>(), cancellationToken))
            .ToDictionary(h => h.Id, h => h.Sha256);
        string modelPath = _store.PathFor(hashes[audit.ModelArtifactId]);
        string? datasetPath = audit.DatasetArtifactId is null ? null : _store.PathFor(hashes[audit.DatasetArtifactId]);

        ModelInventory inventory = ModelInspector.Inspect(modelPath);
        if (inventory.UnsupportedOperators.Count > 0)
        {
            throw new UnsupportedOperatorException(inventory.UnsupportedOperators);
        }

        HashSet<EvidenceRequirement> available = AvailableEvidence(audit, datasetPath);
        int total = Math.Max(1, profile.Controls.Sum(c => c.Probes.Count));
        int done = 0;

        // The inspection above is handed on, so the model-inventory probe does not parse the file again.
        using EvaluationSession session = _runner.Open(modelPath, datasetPath, _options.Device, (int)audit.Seed, inventory);
        await _queue.SetDeviceAsync(audit.Id, session.Device.Name, cancellationToken);
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
                    details["evidence"] = new JsonArray(outcome.Evidence.Select(e => (JsonNode)new JsonObject
                    {
                        ["name"] = e.Name,
                        ["mediaType"] = e.MediaType,
                        ["caption"] = e.Caption,
                        ["contentBase64"] = Convert.ToBase64String(e.Content),
                    }).ToArray());
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

    /// <summary>What evidence the audit's dataset can serve, judged from its recorded format and tensors.</summary>
    private static HashSet<EvidenceRequirement> AvailableEvidence(AuditRow audit, string? datasetPath)
    {
        var available = new HashSet<EvidenceRequirement>();
        if (datasetPath is null || audit.DatasetArtifactId is null)
        {
            return available;
        }

        (string format, JsonNode summary) = Features.Artifacts.DatasetFormats.Describe(datasetPath);
        if (format == "jsonl")
        {
            available.Add(EvidenceRequirement.SequencePrompts);
        }
        else if (summary["tensors"] is JsonObject tensors && tensors.ContainsKey("inputs"))
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
                (bool owned, bool cancelRequested) = await _queue.HeartbeatAsync(
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
