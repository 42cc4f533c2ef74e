using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Profiles;
using Mediator;

namespace Audit.Api.Features.Profiles;

/// <summary>Every version of one profile, newest first.</summary>
public sealed record ListProfileVersions(Caller Caller, string Id) : IQuery<IReadOnlyList<ProfileVersion>>;

public sealed class ListProfileVersionsHandler : IQueryHandler<ListProfileVersions, IReadOnlyList<ProfileVersion>>
{
    private readonly ProfileRepository _profiles;

    public ListProfileVersionsHandler(ProfileRepository profiles)
    {
        _profiles = profiles;
    }

    public async ValueTask<IReadOnlyList<ProfileVersion>> Handle(ListProfileVersions query, CancellationToken cancellationToken)
    {
        var versions = (await _profiles.ListAsync(query.Caller.TenantId, cancellationToken))
            .Where(p => p.Profile.Id == query.Id)
            .OrderByDescending(p => p.Profile.Version, ProfileVersions.Precedence)
            .Select(p => new ProfileVersion(p.Profile.Version, p.ContentHash, p.BuiltIn))
            .ToList();
        return versions.Count > 0 ? versions : throw new NotFoundException($"Profile '{query.Id}' was not found.");
    }
}
