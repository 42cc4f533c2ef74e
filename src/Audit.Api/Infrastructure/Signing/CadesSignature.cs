using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>
/// Detached CMS signatures in the CAdES form that PAdES baseline B-B asks for (ETSI EN 319 142-1): SHA-256 digest,
/// ECDSA signature, and signed attributes content-type, message-digest and signing-certificate-v2.
/// </summary>
/// <remarks>
/// The claimed signing time goes into the PDF signature dictionary's <c>/M</c> entry and not into a signing-time
/// attribute, because EN 319 142-1 (6.3, table 1) says that attribute shall not be present in PAdES baseline signatures.
/// All cryptography is <see cref="SignedCms"/>; this class only builds the ESS attribute (RFC 5035).
/// </remarks>
public static class CadesSignature
{
    public const string Sha256Oid = "2.16.840.1.101.3.4.2.1";
    public const string SigningCertificateV2Oid = "1.2.840.113549.1.9.16.2.47";
    public const string ContentTypeOid = "1.2.840.113549.1.9.3";
    public const string MessageDigestOid = "1.2.840.113549.1.9.4";

    /// <summary>Signs <paramref name="content"/> detached; the result is DER.</summary>
    public static byte[] SignDetached(byte[] content, X509Certificate2 signer, IEnumerable<X509Certificate2> intermediates)
    {
        if (!signer.HasPrivateKey)
        {
            throw new SigningKeyException("The signing certificate has no private key.");
        }

        var cms = new SignedCms(new ContentInfo(content), detached: true);
        var cmsSigner = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, signer)
        {
            DigestAlgorithm = new Oid(Sha256Oid),
            IncludeOption = X509IncludeOption.EndCertOnly,
        };
        cmsSigner.Certificates.AddRange(intermediates.ToArray());
        // SignedCms adds content-type and message-digest itself once any signed attribute is present.
        cmsSigner.SignedAttributes.Add(new AsnEncodedData(new Oid(SigningCertificateV2Oid), EncodeSigningCertificateV2(signer)));
        cms.ComputeSignature(cmsSigner, silent: true);
        return cms.Encode();
    }

    /// <summary>
    /// SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2 } with one ESSCertIDv2 { certHash (SHA-256,
    /// the default algorithm so it is omitted), issuerSerial { GeneralNames { directoryName }, serialNumber } }.
    /// </summary>
    public static byte[] EncodeSigningCertificateV2(X509Certificate2 certificate)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence())
        using (writer.PushSequence())
        {
            writer.WriteOctetString(SHA256.HashData(certificate.RawData));
            using (writer.PushSequence())
            {
                using (writer.PushSequence())
                using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true)))
                {
                    writer.WriteEncodedValue(certificate.IssuerName.RawData);
                }

                // SerialNumberBytes is the big-endian two's complement value exactly as the certificate encodes it.
                writer.WriteInteger(certificate.SerialNumberBytes.Span);
            }
        }

        return writer.Encode();
    }

    /// <summary>Reads the certificate hash out of a signing-certificate-v2 attribute value.</summary>
    public static byte[] ReadSigningCertificateV2Hash(ReadOnlyMemory<byte> attributeValue)
    {
        var reader = new AsnReader(attributeValue, AsnEncodingRules.DER);
        var certs = reader.ReadSequence().ReadSequence();
        var first = certs.ReadSequence();
        if (first.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            // An explicit hash algorithm: only SHA-256 is accepted here.
            var algorithm = first.ReadSequence().ReadObjectIdentifier();
            if (algorithm != Sha256Oid)
            {
                throw new CryptographicException("signing-certificate-v2 uses a hash other than SHA-256.");
            }
        }

        return first.ReadOctetString();
    }
}
