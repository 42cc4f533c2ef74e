using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// What the service certifies about an issued report. The log does not hold it in clear: its entry is a
/// <see cref="LogLeaf"/> that commits to this statement's exact bytes by SHA-256, and <c>Nonce</c> (random, per report)
/// keeps that hash from being matched against guessed verdicts or model hashes. The statement is shown to its tenant
/// (receipt) and to whoever presents the report (verification, lookup by the report's SHA-256). A withdrawal would be a
/// new statement with <c>Kind = "withdrawal"</c>; entries are never removed.
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
    [property: JsonPropertyName("signingKeyId")] string SigningKeyId,
    [property: JsonPropertyName("logIndex")] long? LogIndex = null,
    [property: JsonPropertyName("nonce")] string? Nonce = null)
{
    public const string IssuedKind = "report-issued";
}

/// <summary>
/// The bytes appended to the transparency log for a report (RFC 9162 leaf = SHA-256(0x00 || this JSON)): the report's
/// SHA-256, which only a holder of the report can know, and the SHA-256 of the statement's exact bytes. No tenant,
/// audit, model, profile or verdict appears in it.
/// </summary>
public sealed record LogLeaf(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("reportSha256")] string ReportSha256,
    [property: JsonPropertyName("statementSha256")] string StatementSha256,
    [property: JsonPropertyName("loggedAt")] DateTimeOffset LoggedAt);

/// <summary>
/// The receipt's signed payload: the statement (decoded, and its exact bytes whose SHA-256 the log entry names), the
/// exact log entry and where it sits in the log.
/// </summary>
public sealed record ReceiptPayload(
    [property: JsonPropertyName("statement")] ReportStatement Statement,
    [property: JsonPropertyName("logIndex")] long LogIndex,
    [property: JsonPropertyName("leafHash")] string LeafHash,
    [property: JsonPropertyName("statementBase64")] string? StatementBase64 = null,
    [property: JsonPropertyName("entryBase64")] string? EntryBase64 = null);

/// <summary>
/// An issued report as the service remembers it: <c>LogEntry</c> holds the exact bytes appended to the transparency
/// log (a <see cref="LogLeaf"/>; for reports issued before the log stopped showing statements, the statement itself),
/// <c>Statement</c> the statement's exact bytes, <c>Receipt</c> the COSE_Sign1 over <see cref="ReceiptPayload"/> JSON.
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
    byte[] Receipt,
    byte[]? Statement = null);

/// <summary>Storage of issued reports (the PDF bytes and what was recorded about them).</summary>
public interface IIssuedReportStore
{
    Task SaveAsync(IssuedReport report, byte[] pdf, CancellationToken cancellationToken);

    Task<IssuedReport?> FindAsync(string reportId, CancellationToken cancellationToken);

    /// <summary>The report issued with exactly these bytes (lower-case hex SHA-256), if any.</summary>
    Task<IssuedReport?> FindBySha256Async(string sha256, CancellationToken cancellationToken);

    Task<byte[]?> ReadPdfAsync(string reportId, CancellationToken cancellationToken);
}

/// <summary>
/// Issued reports as files under <c>{dataDirectory}/reports/{reportId}/</c>, written atomically; the PDF itself goes to
/// the blob storage under <c>reports/{reportId}/report.pdf</c> (on the file system: the same path as ever).
/// </summary>
public sealed partial class FileIssuedReportStore(string dataDirectory, Artifacts.IBlobStorage pdfs) : IIssuedReportStore
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly string _root = Path.Combine(dataDirectory, "reports");
    private readonly string _bySha256 = Path.Combine(dataDirectory, "reports-by-sha256");

    public async Task SaveAsync(IssuedReport report, byte[] pdf, CancellationToken cancellationToken)
    {
        var folder = Folder(report.ReportId);
        Directory.CreateDirectory(folder);
        await pdfs.PutBytesAsync(PdfKey(report.ReportId), pdf, cancellationToken);
        // The record is written last: a report is known only once its PDF is safely on disk.
        await WriteAtomicallyAsync(Path.Combine(folder, "record.json"), JsonSerializer.SerializeToUtf8Bytes(report, Json), cancellationToken);
        // Lookup by the report's hash (anyone presenting the report); written after the record it points to.
        Directory.CreateDirectory(_bySha256);
        await WriteAtomicallyAsync(Path.Combine(_bySha256, report.Sha256), System.Text.Encoding.UTF8.GetBytes(report.ReportId), cancellationToken);
    }

    public async Task<IssuedReport?> FindBySha256Async(string sha256, CancellationToken cancellationToken)
    {
        if (!Sha256Hex().IsMatch(sha256))
        {
            return null;
        }

        var path = Path.Combine(_bySha256, sha256);
        if (!File.Exists(path))
        {
            return null;
        }

        var report = await FindAsync((await File.ReadAllTextAsync(path, cancellationToken)).Trim(), cancellationToken);
        return report?.Sha256 == sha256 ? report : null;
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

        await using Stream? stream = await pdfs.OpenReadAsync(PdfKey(reportId), cancellationToken);
        if (stream is null)
        {
            return null;
        }

        byte[] pdf = new byte[stream.Length];
        await stream.ReadExactlyAsync(pdf, cancellationToken);
        return pdf;
    }

    private static string PdfKey(string reportId) =>
        ValidId().IsMatch(reportId) ? $"reports/{reportId}/report.pdf" : throw new ArgumentException("Invalid report id.", nameof(reportId));

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

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();
}
