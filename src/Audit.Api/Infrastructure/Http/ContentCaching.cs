using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace Audit.Api.Infrastructure.Http;

/// <summary>
/// Strong ETags from content hashes, for answers whose bytes never change (issued reports, evidence files, stored
/// artifacts, published profile versions): a client revalidates with If-None-Match and gets 304, and may keep them.
/// </summary>
public static class ContentCaching
{
    /// <summary>Private: the content belongs to one tenant. Immutable: the same address never serves other bytes.</summary>
    public const string ImmutableCacheControl = "private, max-age=31536000, immutable";

    public static EntityTagHeaderValue TagFor(string sha256Hex) => new($"\"{sha256Hex}\"");

    public static EntityTagHeaderValue TagFor(byte[] content) => TagFor(Convert.ToHexStringLower(SHA256.HashData(content)));

    public static void MarkImmutable(HttpContext context) =>
        context.Response.Headers.CacheControl = ImmutableCacheControl;
}
