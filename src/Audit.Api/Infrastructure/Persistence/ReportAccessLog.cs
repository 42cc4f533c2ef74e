using System.Data.Common;
using Audit.Api.Infrastructure.Security;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// One recorded download or verification. <see cref="KeyId"/> is null when the key is not the reading tenant's own
/// (a regulator, an administrator, a revoked or unknown key): another party's key id is its business, not the
/// tenant's, so the tenant sees only its role and the time.
/// </summary>
public sealed record ReportAccessEntry(string Id, string? ReportId, string? AuditId, string Action, string? KeyId, string Role, string Outcome, DateTimeOffset At);

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
            INSERT INTO report_access (id, tenant_id, report_id, audit_id, action, key_id, role, outcome, at, caller_tenant_id)
            VALUES (@id, @tenantId, @reportId, @auditId, @action, @keyId, @role, @outcome, @at, @callerTenantId)
            """,
            new
            {
                id = "acc_" + Guid.NewGuid().ToString("N"), tenantId, reportId, auditId, action,
                keyId = caller.KeyId, role = caller.Role, outcome, at = time.GetUtcNow().ToString("O"),
                callerTenantId = caller.TenantId,
            },
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<ReportAccessEntry>> ListAsync(string tenantId, string? reportId, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        // The key id is shown only for the tenant's own keys, judged by the caller's tenant recorded with the access:
        // a key of another tenant or of none (regulator, admin), or a row from before it was recorded, shows none.
        var rows = await connection.QueryAsync<(string Id, string? ReportId, string? AuditId, string Action, string? KeyId, string Role, string Outcome, string At)>(new CommandDefinition(
            """
            SELECT a.id, a.report_id, a.audit_id, a.action,
                CASE WHEN a.caller_tenant_id = @tenantId THEN a.key_id END,
                a.role, a.outcome, a.at
            FROM report_access a
            WHERE a.tenant_id = @tenantId AND (@reportId IS NULL OR a.report_id = @reportId)
            ORDER BY a.at DESC, a.id LIMIT 1000
            """,
            new { tenantId, reportId },
            cancellationToken: cancellationToken));
        return [.. rows.Select(r => new ReportAccessEntry(r.Id, r.ReportId, r.AuditId, r.Action, r.KeyId, r.Role, r.Outcome,
            DateTimeOffset.Parse(r.At, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind)))];
    }
}
