using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using Mediator;

namespace Audit.Api.Features.Transparency;

/// <summary>
/// A log entry as anyone may see it: its exact bytes (base64), leaf hash and the decoded entry, which holds only the
/// report's SHA-256 and a commitment to its statement. Entries written before the log stopped holding statements in
/// clear show their leaf hash only (<c>Withheld</c> says why); the report's holder finds them by its SHA-256.
/// </summary>
public sealed record LogEntryResponse(long Index, string LeafHash, string? EntryBase64, JsonNode? Entry, string? Withheld = null);

public sealed record GetLogEntry(long Index) : IQuery<LogEntryResponse>;

public sealed class GetLogEntryHandler(TransparencyLog log) : IQueryHandler<GetLogEntry, LogEntryResponse>
{
    public async ValueTask<LogEntryResponse> Handle(GetLogEntry query, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await log.GetEntryAsync(query.Index, cancellationToken);
            var leafHash = Convert.ToHexStringLower(MerkleTree.HashLeaf(entry));
            var decoded = TryParse(entry);
            return IsCommitment(decoded)
                ? new LogEntryResponse(query.Index, leafHash, Convert.ToBase64String(entry), decoded)
                : new LogEntryResponse(query.Index, leafHash, null, null,
                    "This entry predates commitment-only entries and may name a tenant's audit; look it up by the report's SHA-256.");
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }

    /// <summary>Public only if the entry is an object of hashes: kind, reportSha256, statementSha256 and a time.</summary>
    internal static bool IsCommitment(JsonNode? entry) =>
        entry is JsonObject o && o.ContainsKey("statementSha256")
        && o.All(p => p.Key is "kind" or "reportSha256" or "statementSha256" or "loggedAt");

    internal static JsonNode? TryParse(byte[] entry)
    {
        try
        {
            return JsonNode.Parse(entry);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
