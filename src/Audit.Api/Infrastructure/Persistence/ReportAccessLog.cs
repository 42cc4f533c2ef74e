using System.Data.Common;
using Audit.Api.Infrastructure.Security;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>One recorded download or verification.</summary>
public sealed record ReportAccessEntry(string Id, string? ReportId, string? AuditId, string Action, string KeyId, string Role, string Outcome, DateTimeOffset At);

/// <summary>Records who downloaded or verified which report, readable by the owning tenant's auditors.</summary>
public sealed class ReportAccessLog(IDatabase database, TimeProvider time)
{
    public const string Download = "download";
    public const string Receipt = "receipt";
    public const string Verification = "verification";

    public async Task RecordAsync(Caller caller, string? tenantId, string? reportId, string? auditId, string action, string outcome, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO report_access (id, tenant_id, report_id, audit_id, action, key_id, role, outcome, at)
            VALUES (@id, @tenantId, @reportId, @auditId, @action, @keyId, @role, @outcome, @at)
            """,
            new
            {
                id = "acc_" + Guid.NewGuid().ToString("N"), tenantId, reportId, auditId, action,
                keyId = caller.KeyId, role = caller.Role, outcome, at = time.GetUtcNow().ToString("O"),
            },
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<ReportAccessEntry>> ListAsync(string tenantId, string? reportId, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Id, string? ReportId, string? AuditId, string Action, string KeyId, string Role, string Outcome, string At)>(new CommandDefinition(
            """
            SELECT id, report_id, audit_id, action, key_id, role, outcome, at FROM report_access
            WHERE tenant_id = @tenantId AND (@reportId IS NULL OR report_id = @reportId)
            ORDER BY at DESC, id LIMIT 1000
            """,
            new { tenantId, reportId },
            cancellationToken: cancellationToken));
        return [.. rows.Select(r => new ReportAccessEntry(r.Id, r.ReportId, r.AuditId, r.Action, r.KeyId, r.Role, r.Outcome,
            DateTimeOffset.Parse(r.At, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind)))];
    }
}
