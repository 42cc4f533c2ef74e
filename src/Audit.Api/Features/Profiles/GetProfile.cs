using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Profiles;

/// <summary>One profile version (the latest when none is given).</summary>
public sealed record GetProfile(Caller Caller, string Id, string? Version) : IQuery<ProfileResponse>;

public sealed class GetProfileHandler : IQueryHandler<GetProfile, ProfileResponse>
{
    private readonly ProfileRepository _profiles;

    public GetProfileHandler(ProfileRepository profiles)
    {
        _profiles = profiles;
    }

    public async ValueTask<ProfileResponse> Handle(GetProfile query, CancellationToken cancellationToken)
    {
        StoredProfile stored = await _profiles.FindAsync(query.Caller.TenantId, query.Id, query.Version, cancellationToken)
            ?? throw new NotFoundException(query.Version is null
                ? $"Profile '{query.Id}' was not found."
                : $"Profile '{query.Id}' version '{query.Version}' was not found.");
        return ProfileResponse.From(stored);
    }
}
