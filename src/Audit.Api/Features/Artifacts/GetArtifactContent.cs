using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>The stored bytes of one of the tenant's artifacts, exactly as uploaded.</summary>
public sealed record GetArtifactContent(Caller Caller, string Id) : IQuery<ArtifactContent>;

/// <summary>The bytes (a seekable stream the response disposes), what they are, and their content hash (the strong ETag).</summary>
public sealed record ArtifactContent(Stream Content, string MediaType, string Sha256, string FileName);

public sealed class GetArtifactContentHandler : IQueryHandler<GetArtifactContent, ArtifactContent>
{
    private readonly ArtifactRepository _artifacts;
    private readonly ArtifactStore _store;

    public GetArtifactContentHandler(ArtifactRepository artifacts, ArtifactStore store)
    {
        _artifacts = artifacts;
        _store = store;
    }

    public async ValueTask<ArtifactContent> Handle(GetArtifactContent query, CancellationToken cancellationToken)
    {
        ArtifactRow row = await _artifacts.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Artifact '{query.Id}' was not found.");
        string mediaType = row.Format switch
        {
            "jsonl" => "application/jsonl",
            _ => "application/octet-stream",
        };
        string extension = row.Format switch
        {
            "jsonl" => ".jsonl",
            "safetensors" => ".safetensors",
            _ when row.Kind == "model" => ".onnx",
            _ => "",
        };
        // Opened last, so nothing above can leave it undisposed; the stored size is checked against the row's.
        Stream content = await _store.OpenReadAsync(row.Sha256, row.SizeBytes, cancellationToken)
            ?? throw new NotFoundException($"The content of artifact '{query.Id}' is no longer stored.");
        return new ArtifactContent(content, mediaType, row.Sha256, row.Id + extension);
    }
}
