using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Serialization;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>A public signing key as a JSON Web Key (RFC 7517/7518) with its certificate (x5c).</summary>
public sealed record JsonWebKey(
    [property: JsonPropertyName("kty")] string KeyType,
    [property: JsonPropertyName("crv")] string Curve,
    [property: JsonPropertyName("x")] string X,
    [property: JsonPropertyName("y")] string Y,
    [property: JsonPropertyName("kid")] string KeyId,
    [property: JsonPropertyName("use")] string Use,
    [property: JsonPropertyName("alg")] string Algorithm,
    [property: JsonPropertyName("x5c")] IReadOnlyList<string> CertificateChain,
    [property: JsonPropertyName("x5t#S256")] string Thumbprint);

public static class JsonWebKeys
{
    /// <summary>The key id used everywhere (JWK kid, COSE kid): base64url SHA-256 of the certificate.</summary>
    public static string KeyId(X509Certificate2 certificate) => Base64Url(SHA256.HashData(certificate.RawData));

    public static JsonWebKey FromCertificate(X509Certificate2 certificate)
    {
        using var key = certificate.GetECDsaPublicKey()
            ?? throw new SigningKeyException("Only ECDSA certificates are published as JWK.");
        var parameters = key.ExportParameters(includePrivateParameters: false);
        var id = KeyId(certificate);
        return new JsonWebKey(
            "EC", "P-256", Base64Url(parameters.Q.X!), Base64Url(parameters.Q.Y!), id, "sig", "ES256",
            [Convert.ToBase64String(certificate.RawData)], id);
    }

    public static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
