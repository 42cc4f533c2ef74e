using System.Text.Json.Nodes;

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
    JsonNode? Summary);

/// <summary>A row of the artifacts table.</summary>
public sealed record ArtifactRow(
    string Id,
    string TenantId,
    string Kind,
    string? Name,
    string Sha256,
    long SizeBytes,
    string Format,
    string? SummaryJson,
    string CreatedAt)
{
    public const string Columns =
        "id AS Id, tenant_id AS TenantId, kind AS Kind, name AS Name, sha256 AS Sha256, size_bytes AS SizeBytes, format AS Format, summary_json AS SummaryJson, created_at AS CreatedAt";

    public ArtifactResponse ToResponse() => new(
        Id, Kind, Name, Sha256, SizeBytes, Format, DateTimeOffset.Parse(CreatedAt, System.Globalization.CultureInfo.InvariantCulture),
        SummaryJson is null ? null : JsonNode.Parse(SummaryJson));
}
