using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Security.Cryptography.X509Certificates;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>COSE_Sign1 (RFC 9052) envelopes for receipts and tree heads, ES256 with the report-signing key.</summary>
/// <remarks>
/// Protected headers carry alg (added by <see cref="CoseSigner"/>), kid (SHA-256 of the signing certificate, the same
/// value as the JWK <c>kid</c>) and the content type; the certificate itself travels unprotected as x5chain (label 33,
/// RFC 9360) so a verifier holding only the published root can check it.
/// </remarks>
public static class CoseEnvelope
{
    private static readonly CoseHeaderLabel X5Chain = new(33);

    public static byte[] Sign(byte[] payload, X509Certificate2 certificate, string contentType)
    {
        using var key = certificate.GetECDsaPrivateKey()
            ?? throw new SigningKeyException("The signing certificate has no ECDSA private key.");
        var protectedHeaders = new CoseHeaderMap
        {
            { CoseHeaderLabel.KeyIdentifier, CoseHeaderValue.FromBytes(SHA256.HashData(certificate.RawData)) },
            { CoseHeaderLabel.ContentType, CoseHeaderValue.FromString(contentType) },
        };
        var unprotectedHeaders = new CoseHeaderMap { { X5Chain, CoseHeaderValue.FromBytes(certificate.RawData) } };
        return CoseSign1Message.SignEmbedded(payload, new CoseSigner(key, HashAlgorithmName.SHA256, protectedHeaders, unprotectedHeaders));
    }

    /// <summary>
    /// Verifies an envelope against the certificates this service has signed with; returns the payload, or null when
    /// the envelope is malformed, names an unknown key or its signature does not verify.
    /// </summary>
    public static byte[]? Verify(byte[] envelope, IEnumerable<X509Certificate2> signingCertificates)
    {
        CoseSign1Message message;
        try
        {
            message = CoseMessage.DecodeSign1(envelope);
        }
        catch (CryptographicException)
        {
            return null;
        }

        if (!message.ProtectedHeaders.TryGetValue(CoseHeaderLabel.KeyIdentifier, out var kid) || message.Content is not { } content)
        {
            return null;
        }

        var keyId = kid.GetValueAsBytes();
        var certificate = signingCertificates.FirstOrDefault(c => SHA256.HashData(c.RawData).AsSpan().SequenceEqual(keyId));
        using var key = certificate?.GetECDsaPublicKey();
        return key is not null && message.VerifyEmbedded(key) ? content.ToArray() : null;
    }
}
