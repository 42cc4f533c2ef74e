using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;

namespace Audit.Api.Features.Artifacts;

/// <summary>An uploaded artifact as clients see it.</summary>
public sealed record ArtifactResponse(
    string Id,
    string Kind,
    string? Name,
    string Sha256,
    long SizeBytes,
    string Format,
    DateTimeOffset CreatedAt,
    JsonNode? Summary)
{
    public static ArtifactResponse From(ArtifactRow row) => new(
        row.Id, row.Kind, row.Name, row.Sha256, row.SizeBytes, row.Format, DateTimeOffset.Parse(row.CreatedAt, CultureInfo.InvariantCulture), row.Summary);
}
