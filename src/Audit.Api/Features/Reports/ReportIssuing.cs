using System.Data.Common;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Worker;
using Audit.Evaluators.Probes;
using Dapper;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues the one report of a succeeded audit, exactly once: the worker calls it when an audit finishes, and the
/// download calls it too, so a report whose issuing was interrupted by a crash is issued on first request.
/// </summary>
public sealed class ReportIssuing(
    AuditStore audits,
    IDatabase database,
    ReportIssuer issuer,
    IIssuedReportStore reports,
    ProbeCatalog catalog,
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
        if (row is null || row.Status != "succeeded")
        {
            return null;
        }

        var loaded = await audits.LoadAsync(tenantId, auditId, cancellationToken);
        if (loaded is null)
        {
            return null;
        }

        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        var artifacts = (await connection.QueryAsync<(string Id, string? Name, string Sha256, string? SummaryJson)>(new CommandDefinition(
            "SELECT id, name, sha256, summary_json FROM artifacts WHERE tenant_id = @tenant AND id IN @ids",
            new { tenant = row.TenantId, ids = new[] { row.ModelArtifactId, row.DatasetArtifactId }.OfType<string>().ToArray() },
            cancellationToken: cancellationToken))).ToDictionary(a => a.Id);

        var model = artifacts[row.ModelArtifactId];
        ReportArtifact? dataset = row.DatasetArtifactId is { } datasetId && artifacts.TryGetValue(datasetId, out var d)
            ? new ReportArtifact(d.Name ?? d.Id, d.Sha256)
            : null;
        return new AuditReportInput(
            row, AuditQueue.ProfileOf(row), loaded.Controls, loaded.Findings,
            new ReportArtifact(model.Name ?? model.Id, model.Sha256),
            model.SummaryJson is null ? null : JsonNode.Parse(model.SummaryJson),
            dataset);
    }
}
