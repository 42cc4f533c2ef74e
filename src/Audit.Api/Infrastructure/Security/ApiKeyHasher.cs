using System.Security.Cryptography;
using System.Text;

namespace Audit.Api.Infrastructure.Security;

/// <summary>
/// Keys are 32 random bytes, so a fast hash is enough: no dictionary to attack, and a slow KDF would cost
/// every request. Only the hash is stored; the key is shown once, when created.
/// </summary>
public static class ApiKeyHasher
{
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static string NewKey() => "audit_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
