using System.Text.Json.Nodes;
using Audit.Api.Features.Verifications;
using Audit.Api.Infrastructure.Persistence;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Transparency;

/// <summary>
/// A log entry found by its report's SHA-256, with what the holder of that report may see: the statement behind the
/// entry (its exact bytes too, whose SHA-256 the entry names) and the report's signed receipt.
/// </summary>
public sealed record ReportLogEntry(
    long Index,
    string LeafHash,
    string EntryBase64,
    JsonNode? Entry,
    JsonNode? Statement,
    string? StatementBase64,
    string? Receipt);

/// <summary>
/// The entries recording a report with this SHA-256; empty when none. Open to anyone: the SHA-256 of a report is
/// known only to whoever holds it, and holding the report is what entitles one to its statement.
/// </summary>
public sealed record FindLogEntries(string? ReportSha256) : IQuery<IReadOnlyList<ReportLogEntry>>;

public sealed class FindLogEntriesValidator : AbstractValidator<FindLogEntries>
{
    public FindLogEntriesValidator()
    {
        RuleFor(x => x.ReportSha256).NotEmpty().Matches("^[0-9a-fA-F]{64}$")
            .OverridePropertyName("reportSha256").WithMessage("reportSha256 must be 64 hexadecimal digits.");
    }
}

public sealed class FindLogEntriesHandler(TransparencyLog log, IIssuedReportStore reports) : IQueryHandler<FindLogEntries, IReadOnlyList<ReportLogEntry>>
{
    public async ValueTask<IReadOnlyList<ReportLogEntry>> Handle(FindLogEntries query, CancellationToken cancellationToken)
    {
        var sha256 = query.ReportSha256!.ToLowerInvariant();
        var found = await log.FindByReportSha256Async(sha256, cancellationToken);
        if (found.Count == 0)
        {
            return [];
        }

        var issued = await reports.FindBySha256Async(sha256, cancellationToken);
        return [.. found.Select(f =>
        {
            var mine = issued is not null && issued.LogIndex == f.Index;
            return new ReportLogEntry(
                f.Index,
                Convert.ToHexStringLower(MerkleTree.HashLeaf(f.Entry)),
                Convert.ToBase64String(f.Entry),
                GetLogEntryHandler.TryParse(f.Entry),
                mine ? ReportVerifier.StatementOf(issued!) : null,
                mine && issued!.Statement is { } statement ? Convert.ToBase64String(statement) : null,
                mine ? Convert.ToBase64String(issued!.Receipt) : null);
        })];
    }
}
