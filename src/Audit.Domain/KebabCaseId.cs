using System.Text.RegularExpressions;

namespace Audit.Domain;

/// <summary>
/// The shape of every id a person chooses (tenants, profiles, controls): lower-case kebab-case, 2 to 64 characters,
/// safe in URLs, file names and log lines.
/// </summary>
public static partial class KebabCaseId
{
    /// <summary>The pattern, for validators.</summary>
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,63}$", RegexOptions.CultureInvariant)]
    public static partial Regex Pattern();
}
