namespace Audit.Api.Features.Reports;

/// <summary>The address printed in reports: <c>Audit:PublicBaseUrl</c>, else the first address the server listens on.</summary>
public sealed class ServiceAddress(string? configured, Func<string?> listening)
{
    public const string VerifyPath = "verify";
    public const string DocsPath = "docs/verification";

    public string BaseUrl
    {
        get
        {
            var url = configured is { Length: > 0 } ? configured : listening() ?? "http://localhost";
            // "http://+:5080" or "http://0.0.0.0:5080" are bindings, not addresses anyone can open.
            url = url.Replace("://+", "://localhost", StringComparison.Ordinal).Replace("://*", "://localhost", StringComparison.Ordinal)
                .Replace("://0.0.0.0", "://localhost", StringComparison.Ordinal).Replace("://[::]", "://localhost", StringComparison.Ordinal);
            return url.TrimEnd('/');
        }
    }

    public string VerifyUrl => $"{BaseUrl}/{VerifyPath}";

    public string DocsUrl => $"{BaseUrl}/{DocsPath}";
}
