using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Profiles;

namespace Audit.Api.Features.Profiles;

/// <summary>A profile in lists: the latest version of each id.</summary>
public sealed record ProfileSummary(string Id, string Version, string Title, string Regulation, int Controls, bool BuiltIn, string ContentHash);

/// <summary>A full profile version with its content hash.</summary>
public sealed record ProfileResponse(
    string Id,
    string Version,
    string Title,
    string Regulation,
    string? Description,
    IReadOnlyList<Control> Controls,
    bool BuiltIn,
    string ContentHash)
{
    public static ProfileResponse From(StoredProfile stored) => new(
        stored.Profile.Id, stored.Profile.Version, stored.Profile.Title, stored.Profile.Regulation,
        stored.Profile.Description, stored.Profile.Controls, stored.BuiltIn, stored.ContentHash);
}

/// <summary>One version of a profile.</summary>
public sealed record ProfileVersion(string Version, string ContentHash, bool BuiltIn);
