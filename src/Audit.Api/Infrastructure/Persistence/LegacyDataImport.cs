using System.Data.Common;
using Audit.Api.Features.Transparency;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Imports what a data directory of an older version kept in files, on the first start against a database: the
/// transparency log (<c>transparency/log.bin</c>) and the issued-report records (<c>reports/*/record.json</c>). The
/// files are left as they are (nothing stored is ever deleted); importing again adds nothing. A log file whose entries
/// differ from a non-empty database log is not merged (that would renumber entries reports already state): it is
/// reported and left alone.
/// </summary>
public sealed class LegacyDataImport(
    IDatabase database, DatabaseTransparencyLogStore log, string dataPath, Artifacts.IBlobStorage blobs, ILogger<LegacyDataImport> logger)
{
    public async Task ImportAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(Path.Combine(dataPath, "transparency", "log.bin")))
        {
            IReadOnlyList<byte[]> entries;
            using (var file = new FileTransparencyLogStore(dataPath))
            {
                entries = await file.ReadAllAsync(cancellationToken);
            }

            if (entries.Count > 0 && !await log.ImportAsync(entries, cancellationToken))
            {
                logger.LogError(
                    "The transparency log file in {DataPath} ({Count} entries) differs from the database's log; it was not imported",
                    dataPath, entries.Count);
            }
        }

        var files = new FileIssuedReportStore(dataPath, blobs);
        IReadOnlyList<string> ids = files.RecordedReportIds();
        if (ids.Count == 0)
        {
            return;
        }

        int imported = 0;
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        foreach (string id in ids)
        {
            if (await files.FindAsync(id, cancellationToken) is { } report
                && await DatabaseIssuedReportStore.InsertAsync(connection, report, cancellationToken))
            {
                imported++;
            }
        }

        if (imported > 0)
        {
            logger.LogInformation("Imported {Count} issued-report records from {DataPath}", imported, dataPath);
        }
    }
}
