using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;
using Audit.Evaluators.Probes;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues the one report of a succeeded audit, exactly once: the worker asks for it (through <see cref="IssueReport"/>)
/// when an audit finishes, and the download calls it too, so a report whose issuing was interrupted by a crash is
/// issued on first request.
/// </summary>
public sealed class ReportIssuing(
    AuditRepository audits,
    ArtifactRepository artifacts,
    ArtifactStore blobs,
    ReportIssuer issuer,
    IIssuedReportStore reports,
    ProbeCatalog catalog,
    DatabaseLocks locks,
    TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>The audit's report, issued now if it was not yet; null when the audit does not exist or has not succeeded.</summary>
    public async Task<IssuedReport?> EnsureIssuedAsync(string? tenantId, string auditId, CancellationToken cancellationToken)
    {
        var reportId = ReportModelBuilder.ReportIdFor(auditId);
        var existing = await reports.FindAsync(reportId, cancellationToken);
        if (existing is not null)
        {
            return tenantId is null || existing.Tenant == tenantId ? existing : null;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Another process (a worker finishing the audit, another API instance serving its download) may be
            // issuing it too: only one may, or the log would record two reports for one audit.
            await using var issuing = await locks.AcquireAsync("report-issuing", cancellationToken);
            existing = await reports.FindAsync(reportId, cancellationToken);
            if (existing is not null)
            {
                return tenantId is null || existing.Tenant == tenantId ? existing : null;
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
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

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

        return new AuditReportInput(
            row,
            row.Profile(),
            [.. controls.Select(c => new ControlResponse(c.ControlId, c.Verdict, c.Reason))],
            [.. findings.Select(f => new FindingResponse(f.ControlId, f.Probe, f.Verdict, f.Score, f.Summary, JsonNode.Parse(f.DetailsJson)))],
            new ReportArtifact(model.Name ?? model.Id, model.Sha256),
            model.Summary,
            dataset,
            evidence);
    }
}
