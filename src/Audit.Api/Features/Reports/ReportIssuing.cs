using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;
using Audit.Evaluators.Probes;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues the one report of a succeeded audit, exactly once: the worker asks for it (through <see cref="IssueReport"/>)
/// when an audit finishes, and the download calls it too, so a report whose issuing was interrupted by a crash is
/// issued on first request. The worker and the API may be different processes (<c>src/Audit.Worker</c>): an in-process
/// gate orders this process's callers and a lease in the database (<see cref="ReportIssuingClaims"/>) orders the
/// processes, so one signs and logs the report and the others wait for it.
/// </summary>
public sealed class ReportIssuing(
    AuditRepository audits,
    ArtifactRepository artifacts,
    ArtifactStore blobs,
    ReportIssuer issuer,
    IIssuedReportStore reports,
    ReportIssuingClaims claims,
    ProbeCatalog catalog,
    IOptions<AuditOptions> options,
    TimeProvider time) : IDisposable
{
    private static readonly TimeSpan WaitInterval = TimeSpan.FromMilliseconds(250);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly string _owner = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    // Rendering and signing take seconds on a busy machine; the lease is renewed meanwhile, and a killed holder's
    // lease lapses within this long.
    private readonly TimeSpan _lease = TimeSpan.FromTicks(Math.Max(options.Value.Worker.LeaseDuration.Ticks, TimeSpan.FromSeconds(10).Ticks));

    /// <summary>The audit's report, issued now if it was not yet; null when the audit does not exist or has not succeeded.</summary>
    public async Task<IssuedReport?> EnsureIssuedAsync(string? tenantId, string auditId, CancellationToken cancellationToken)
    {
        var reportId = ReportModelBuilder.ReportIdFor(auditId);
        var existing = await reports.FindAsync(reportId, cancellationToken);
        if (existing is not null)
        {
            return Visible(existing, tenantId);
        }

        // Only a succeeded audit has a report: anything else is answered without touching the issuing lease.
        if (await audits.FindAsync(tenantId, auditId, cancellationToken) is not { State: AuditStatus.Succeeded })
        {
            return null;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Another process may be issuing it: wait for its report, or take over once its lease lapsed.
            while (!await claims.TryAcquireAsync(auditId, _owner, time.GetUtcNow(), _lease, cancellationToken))
            {
                await Task.Delay(WaitInterval, time, cancellationToken);
                existing = await reports.FindAsync(reportId, cancellationToken);
                if (existing is not null)
                {
                    return Visible(existing, tenantId);
                }
            }

            using var renewal = new CancellationTokenSource();
            var renewing = RenewAsync(auditId, renewal.Token);
            try
            {
                existing = await reports.FindAsync(reportId, cancellationToken);
                if (existing is not null)
                {
                    return Visible(existing, tenantId);
                }

                var input = await LoadAsync(tenantId, auditId, cancellationToken);
                if (input is null)
                {
                    return null;
                }

                var model = ReportModelBuilder.Build(input, catalog, time.GetUtcNow());
                return await issuer.IssueAsync(model, cancellationToken);
            }
            finally
            {
                await renewal.CancelAsync();
                await renewing;
                await claims.ReleaseAsync(auditId, _owner, CancellationToken.None);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private static IssuedReport? Visible(IssuedReport report, string? tenantId) =>
        tenantId is null || report.Tenant == tenantId ? report : null;

    /// <summary>Renews the issuing lease until stopped; a failed renewal is tried again at the next interval.</summary>
    private async Task RenewAsync(string auditId, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_lease / 3, time, stop);
                await claims.RenewAsync(auditId, _owner, time.GetUtcNow(), _lease, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (System.Data.Common.DbException)
            {
                // A busy database: the next interval tries again, well within the lease.
            }
        }
    }

    private async Task<AuditReportInput?> LoadAsync(string? tenantId, string auditId, CancellationToken cancellationToken)
    {
        var row = await audits.FindAsync(tenantId, auditId, cancellationToken);
        if (row is null || row.State != AuditStatus.Succeeded)
        {
            return null;
        }

        var (controls, findings) = await audits.ResultsAsync(row.Id, cancellationToken);
        var stored = await artifacts.FindManyAsync(row.TenantId, new[] { row.ModelArtifactId, row.DatasetArtifactId }.OfType<string>(), cancellationToken);
        var model = stored[row.ModelArtifactId];
        ReportArtifact? dataset = row.DatasetArtifactId is { } datasetId && stored.TryGetValue(datasetId, out var d)
            ? new ReportArtifact(d.Name ?? d.Id, d.Sha256)
            : null;

        // Only images are drawn into the PDF; other evidence stays available at its URL.
        var evidence = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var file in (await audits.EvidenceOfAsync(row.Id, cancellationToken)).Where(e => e.MediaType == "image/png"))
        {
            evidence[file.Id] = await blobs.ReadAllBytesAsync(file.Sha256, file.SizeBytes, cancellationToken)
                ?? throw new InvalidOperationException($"The content of evidence '{file.Id}' is no longer stored.");
        }

        var profile = row.Profile();
        return new AuditReportInput(
            row,
            profile,
            ControlResponse.ListFrom(controls, profile),
            FindingResponse.ListFrom(findings, profile),
            new ReportArtifact(model.Name ?? model.Id, model.Sha256),
            model.Summary,
            dataset,
            evidence);
    }
}
