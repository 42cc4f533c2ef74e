using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// What the transparency log records for each issued report (its leaf is this statement's UTF-8 JSON). A withdrawal
/// would be a new statement with <c>Kind = "withdrawal"</c>; entries are never removed.
/// </summary>
public sealed record ReportStatement(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("reportId")] string ReportId,
    [property: JsonPropertyName("auditId")] string AuditId,
    [property: JsonPropertyName("reportSha256")] string ReportSha256,
    [property: JsonPropertyName("modelSha256")] string ModelSha256,
    [property: JsonPropertyName("datasetSha256")] string? DatasetSha256,
    [property: JsonPropertyName("profileId")] string ProfileId,
    [property: JsonPropertyName("profileVersion")] string ProfileVersion,
    [property: JsonPropertyName("profileContentHash")] string ProfileContentHash,
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("signingTime")] DateTimeOffset SigningTime,
    [property: JsonPropertyName("signingKeyId")] string SigningKeyId)
{
    public const string IssuedKind = "report-issued";
}

/// <summary>The receipt's signed payload: the logged statement and where it sits in the log.</summary>
public sealed record ReceiptPayload(
    [property: JsonPropertyName("statement")] ReportStatement Statement,
    [property: JsonPropertyName("logIndex")] long LogIndex,
    [property: JsonPropertyName("leafHash")] string LeafHash);

/// <summary>
/// An issued report as the service remembers it: <c>LogEntry</c> holds the exact bytes appended to the transparency
/// log (the statement's JSON), <c>Receipt</c> the COSE_Sign1 over <see cref="ReceiptPayload"/> JSON.
/// </summary>
public sealed record IssuedReport(
    string ReportId,
    string AuditId,
    string Tenant,
    string Sha256,
    long SizeBytes,
    DateTimeOffset SigningTime,
    string SigningKeyId,
    long LogIndex,
    byte[] LogEntry,
    byte[] Receipt);

/// <summary>Storage of issued reports (the PDF bytes and what was recorded about them).</summary>
public interface IIssuedReportStore
{
    Task SaveAsync(IssuedReport report, byte[] pdf, CancellationToken cancellationToken);

    Task<IssuedReport?> FindAsync(string reportId, CancellationToken cancellationToken);

    Task<byte[]?> ReadPdfAsync(string reportId, CancellationToken cancellationToken);
}

/// <summary>Issued reports as files under <c>{dataDirectory}/reports/{reportId}/</c>, written atomically.</summary>
public sealed partial class FileIssuedReportStore(string dataDirectory) : IIssuedReportStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _root = Path.Combine(dataDirectory, "reports");

    public async Task SaveAsync(IssuedReport report, byte[] pdf, CancellationToken cancellationToken)
    {
        var folder = Folder(report.ReportId);
        Directory.CreateDirectory(folder);
        await WriteAtomicallyAsync(Path.Combine(folder, "report.pdf"), pdf, cancellationToken);
        // The record is written last: a report is known only once its PDF is safely on disk.
        await WriteAtomicallyAsync(Path.Combine(folder, "record.json"), JsonSerializer.SerializeToUtf8Bytes(report, Json), cancellationToken);
    }

    public async Task<IssuedReport?> FindAsync(string reportId, CancellationToken cancellationToken)
    {
        if (!ValidId().IsMatch(reportId))
        {
            return null;
        }

        var path = Path.Combine(Folder(reportId), "record.json");
        if (!File.Exists(path))
        {
            return null;
        }

        await using var stream = File.OpenRead(path);
        return await JsonSerializer.DeserializeAsync<IssuedReport>(stream, Json, cancellationToken);
    }

    public async Task<byte[]?> ReadPdfAsync(string reportId, CancellationToken cancellationToken)
    {
        if (!ValidId().IsMatch(reportId))
        {
            return null;
        }

        var path = Path.Combine(Folder(reportId), "report.pdf");
        return File.Exists(path) ? await File.ReadAllBytesAsync(path, cancellationToken) : null;
    }

    private string Folder(string reportId) =>
        ValidId().IsMatch(reportId) ? Path.Combine(_root, reportId) : throw new ArgumentException("Invalid report id.", nameof(reportId));

    private static async Task WriteAtomicallyAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp";
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            await stream.WriteAsync(content, cancellationToken);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }

    [GeneratedRegex("^[A-Za-z0-9_-]{1,100}$")]
    private static partial Regex ValidId();
}
