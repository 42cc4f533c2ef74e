using System.Data.Common;
using System.Globalization;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Issued-report records in the <c>issued_reports</c> table, so every process on the database knows every report;
/// the PDF bytes (and, as before, a copy of the record beside them) go to <paramref name="files"/>.
/// </summary>
public sealed class DatabaseIssuedReportStore(IDatabase database, FileIssuedReportStore files) : IIssuedReportStore
{
    private const string Columns =
        "report_id, audit_id, tenant_id, sha256, size_bytes, signing_time, signing_key_id, log_index, log_entry, receipt, statement";

    public async Task SaveAsync(IssuedReport report, byte[] pdf, CancellationToken cancellationToken)
    {
        // The bytes first: a report is known (its row exists) only once its PDF is safely stored.
        await files.SaveAsync(report, pdf, cancellationToken);
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        await InsertAsync(connection, report, cancellationToken);
    }

    public async Task<IssuedReport?> FindAsync(string reportId, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        Row? row = await connection.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM issued_reports WHERE report_id = @reportId", new { reportId }, cancellationToken: cancellationToken));
        return row?.ToReport();
    }

    public async Task<IssuedReport?> FindBySha256Async(string sha256, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        Row? row = await connection.QueryFirstOrDefaultAsync<Row>(new CommandDefinition(
            $"SELECT {Columns} FROM issued_reports WHERE sha256 = @sha256 ORDER BY signing_time, report_id LIMIT 1",
            new { sha256 }, cancellationToken: cancellationToken));
        return row?.ToReport();
    }

    public Task<byte[]?> ReadPdfAsync(string reportId, CancellationToken cancellationToken) => files.ReadPdfAsync(reportId, cancellationToken);

    /// <summary>Records a report unless one with its id is recorded; false when it was.</summary>
    internal static async Task<bool> InsertAsync(DbConnection connection, IssuedReport report, CancellationToken cancellationToken) =>
        await connection.ExecuteAsync(new CommandDefinition(
            $"""
            INSERT INTO issued_reports ({Columns})
            SELECT @reportId, @auditId, @tenant, @sha256, @sizeBytes, @signingTime, @signingKeyId, @logIndex, @logEntry, @receipt, @statement
            WHERE NOT EXISTS (SELECT 1 FROM issued_reports WHERE report_id = @reportId)
            """,
            new
            {
                reportId = report.ReportId,
                auditId = report.AuditId,
                tenant = report.Tenant,
                sha256 = report.Sha256,
                sizeBytes = report.SizeBytes,
                signingTime = report.SigningTime.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
                signingKeyId = report.SigningKeyId,
                logIndex = report.LogIndex,
                logEntry = Convert.ToBase64String(report.LogEntry),
                receipt = Convert.ToBase64String(report.Receipt),
                statement = report.Statement is null ? null : Convert.ToBase64String(report.Statement),
            },
            cancellationToken: cancellationToken)) == 1;

#pragma warning disable IDE1006, CA1812 // Dapper maps the columns by name; the row is instantiated by reflection.
    private sealed record Row(
        string report_id, string audit_id, string tenant_id, string sha256, long size_bytes, string signing_time, string signing_key_id,
        long log_index, string log_entry, string receipt, string? statement)
    {
        public IssuedReport ToReport() => new(
            report_id, audit_id, tenant_id, sha256, size_bytes,
            DateTimeOffset.Parse(signing_time, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind),
            signing_key_id, log_index, Convert.FromBase64String(log_entry), Convert.FromBase64String(receipt),
            statement is null ? null : Convert.FromBase64String(statement));
    }
#pragma warning restore IDE1006, CA1812
}
