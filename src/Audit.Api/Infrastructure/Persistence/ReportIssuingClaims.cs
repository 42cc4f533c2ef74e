using System.Data.Common;
using System.Globalization;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// A lease per audit on issuing its report, shared by every process on the database: whoever holds it signs and logs
/// the report, the others wait for the stored result. The lease expires unless renewed, so a holder that was killed
/// never blocks the report for longer than one lease.
/// </summary>
public sealed class ReportIssuingClaims(IDatabase database)
{
    /// <summary>
    /// Takes the lease when nobody holds it or its holder's lapsed; true when <paramref name="owner"/> holds it now.
    /// One statement (insert, or update only an expired row), so two claimers cannot both succeed.
    /// </summary>
    public async Task<bool> TryAcquireAsync(string auditId, string owner, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        int changed = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO report_issuing_claims (audit_id, owner, expires_at) VALUES (@auditId, @owner, @expires)
            ON CONFLICT (audit_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
            WHERE report_issuing_claims.expires_at < @now
            """,
            new { auditId, owner, expires = Text(now + lease), now = Text(now) },
            cancellationToken: cancellationToken));
        return changed == 1;
    }

    /// <summary>Extends the lease; false when <paramref name="owner"/> no longer holds it.</summary>
    public async Task<bool> RenewAsync(string auditId, string owner, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE report_issuing_claims SET expires_at = @expires WHERE audit_id = @auditId AND owner = @owner",
            new { auditId, owner, expires = Text(now + lease) },
            cancellationToken: cancellationToken)) == 1;
    }

    public async Task ReleaseAsync(string auditId, string owner, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM report_issuing_claims WHERE audit_id = @auditId AND owner = @owner",
            new { auditId, owner },
            cancellationToken: cancellationToken));
    }

    // ISO-8601 UTC text sorts like the instants it names (as the audits' lease columns do).
    private static string Text(DateTimeOffset value) => value.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
}
