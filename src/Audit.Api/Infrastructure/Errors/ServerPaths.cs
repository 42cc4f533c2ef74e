using System.Text.RegularExpressions;

namespace Audit.Api.Infrastructure.Errors;

/// <summary>
/// Removes absolute server paths from text a client will read (problem details, a failed audit's error): the
/// data directory's layout is nobody's business but the operator's. A path keeps only its file name.
/// </summary>
public static partial class ServerPaths
{
    public static string? Redact(string? text) =>
        text is null ? null : AbsolutePath().Replace(text, match =>
        {
            string path = match.Value;
            if (path.StartsWith("/api/", StringComparison.Ordinal))
            {
                return path;
            }

            string name = path.TrimEnd('/', '\\');
            int last = name.LastIndexOfAny(['/', '\\']);
            return last >= 0 && last < name.Length - 1 ? name[(last + 1)..] : "(path)";
        });

    // A Unix path of two or more segments or a Windows drive path, starting a token.
    [GeneratedRegex(@"(?<=^|[\s'""(=:])(?:/[^\s/'""():;,]+){2,}/?|(?<=^|[\s'""(=])[A-Za-z]:\\[^\s'""():;,]*", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex AbsolutePath();
}
