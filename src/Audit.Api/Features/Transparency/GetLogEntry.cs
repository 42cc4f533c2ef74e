using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using Mediator;

namespace Audit.Api.Features.Transparency;

/// <summary>A log entry: its exact bytes (base64), leaf hash and the statement it holds.</summary>
public sealed record LogEntryResponse(long Index, string LeafHash, string EntryBase64, JsonNode? Statement);

public sealed record GetLogEntry(long Index) : IQuery<LogEntryResponse>;

public sealed class GetLogEntryHandler(TransparencyLog log) : IQueryHandler<GetLogEntry, LogEntryResponse>
{
    public async ValueTask<LogEntryResponse> Handle(GetLogEntry query, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await log.GetEntryAsync(query.Index, cancellationToken);
            return new LogEntryResponse(query.Index, Convert.ToHexStringLower(MerkleTree.HashLeaf(entry)), Convert.ToBase64String(entry), JsonNode.Parse(entry));
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}
