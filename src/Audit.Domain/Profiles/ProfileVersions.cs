using System.Text.RegularExpressions;
using NuGet.Versioning;

namespace Audit.Domain.Profiles;

/// <summary>
/// Profile versions are Semantic Versions 2.0 (<c>major.minor.patch[-pre.release]</c>, no build metadata). Ordering
/// follows SemVer precedence through NuGet.Versioning: numeric pre-release identifiers compare as numbers, so
/// <c>1.0.0-rc.10</c> is newer than <c>1.0.0-rc.2</c>, and a release outranks its pre-releases.
/// </summary>
public static partial class ProfileVersions
{
    /// <summary>Orders version strings by SemVer precedence; strings that are not versions sort first.</summary>
    public static IComparer<string> Precedence { get; } = Comparer<string>.Create(Compare);

    /// <summary>True for a well-formed version: numbers without leading zeros, a bounded pre-release, no metadata.</summary>
    public static bool IsValid(string? version) => version is not null && Shape().IsMatch(version) && SemanticVersion.TryParse(version, out _);

    /// <summary>SemVer precedence of two version strings; malformed ones sort before every valid one.</summary>
    public static int Compare(string? left, string? right)
    {
        SemanticVersion? a = left is not null && SemanticVersion.TryParse(left, out SemanticVersion? x) ? x : null;
        SemanticVersion? b = right is not null && SemanticVersion.TryParse(right, out SemanticVersion? y) ? y : null;
        return (a, b) switch
        {
            (null, null) => string.CompareOrdinal(left, right),
            (null, _) => -1,
            (_, null) => 1,
            _ => VersionComparer.VersionRelease.Compare(a, b),
        };
    }

    // The shape bounds the numbers (9 digits) and the pre-release (64 characters) that a stored profile may carry.
    [GeneratedRegex(@"^(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})\.(0|[1-9]\d{0,8})(?:-([0-9A-Za-z.-]{1,64}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
