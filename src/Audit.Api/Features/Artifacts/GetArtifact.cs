using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>One artifact of the caller's tenant; another tenant's looks exactly like a missing one.</summary>
public sealed record GetArtifact(Caller Caller, string Id) : IQuery<ArtifactResponse>;

public sealed class GetArtifactHandler : IQueryHandler<GetArtifact, ArtifactResponse>
{
    private readonly ArtifactRepository _artifacts;

    public GetArtifactHandler(ArtifactRepository artifacts)
    {
        _artifacts = artifacts;
    }

    public async ValueTask<ArtifactResponse> Handle(GetArtifact query, CancellationToken cancellationToken)
    {
        ArtifactRow row = await _artifacts.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Artifact '{query.Id}' was not found.");
        return ArtifactResponse.From(row);
    }
}
