using System.Security.Cryptography;
using System.Text.Json;

namespace Audit.Domain.Profiles;

/// <summary>The content hash an audit records for the exact profile version it ran.</summary>
public static class ProfileHash
{
    /// <summary>Serialization used for hashing and storage: camelCase, no indentation, declared property order.</summary>
    public static JsonSerializerOptions CanonicalJson { get; } = new(JsonSerializerDefaults.Web) { WriteIndented = false };

    /// <summary>"sha256:" followed by the lowercase hex SHA-256 of the canonical JSON.</summary>
    public static string Compute(Profile profile)
    {
        byte[] canonical = JsonSerializer.SerializeToUtf8Bytes(profile, CanonicalJson);
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(canonical));
    }
}
