using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Profiles;
using Mediator;

namespace Audit.Api.Features.Profiles;

/// <summary>Latest version of every profile the caller can use.</summary>
public sealed record ListProfiles(Caller Caller) : IQuery<IReadOnlyList<ProfileSummary>>;

public sealed class ListProfilesHandler : IQueryHandler<ListProfiles, IReadOnlyList<ProfileSummary>>
{
    private readonly ProfileRepository _profiles;

    public ListProfilesHandler(ProfileRepository profiles)
    {
        _profiles = profiles;
    }

    public async ValueTask<IReadOnlyList<ProfileSummary>> Handle(ListProfiles query, CancellationToken cancellationToken)
    {
        IReadOnlyList<StoredProfile> all = await _profiles.ListAsync(query.Caller.TenantId, cancellationToken);
        return all
            .GroupBy(p => p.Profile.Id)
            .Select(g => g.MaxBy(p => p.Profile.Version, ProfileVersions.Precedence)!)
            .OrderBy(p => p.Profile.Id, StringComparer.Ordinal)
            .Select(p => new ProfileSummary(p.Profile.Id, p.Profile.Version, p.Profile.Title, p.Profile.Regulation, p.Profile.Controls.Count, p.BuiltIn, p.ContentHash))
            .ToList();
    }
}
