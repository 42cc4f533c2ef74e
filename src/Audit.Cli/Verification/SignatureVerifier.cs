using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Audit.Cli.Verification;

/// <summary>
/// The offline checks of a signed report: the byte range covers the whole file but the signature value, the CMS
/// message digest matches the signed bytes, the CAdES signature verifies, and the signer chains to the given root
/// and to nothing else (no system trust store).
/// </summary>
internal static class SignatureVerifier
{
    public const string ByteRange = "byteRange";
    public const string MessageDigest = "messageDigest";
    public const string Signature = "signature";
    public const string CertificateChain = "certificateChain";

    private const string CadesDetached = "ETSI.CAdES.detached";
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";
    private const string MessageDigestOid = "1.2.840.113549.1.9.4";

    public sealed record Outcome(IReadOnlyList<Check> Checks, X509Certificate2? Signer, string ReportSha256);

    public static Outcome Verify(byte[] pdf, PdfSignature signature, X509Certificate2Collection roots)
    {
        var checks = new List<Check> { CheckByteRange(pdf, signature) };
        // The statement in the log hashes the signed revision: everything up to the end of the second range.
        var revisionLength = (int)Math.Min(signature.SignedLength, pdf.Length);
        var reportSha256 = Convert.ToHexStringLower(SHA256.HashData(pdf.AsSpan(0, revisionLength)));
        if (!signature.RangesInsideFile(pdf.Length) || signature.Cms.Length == 0)
        {
            checks.Add(Check.Fail(Signature, signature.Cms.Length == 0 && signature.RangesInsideFile(pdf.Length)
                ? "No CMS signature value was found in /Contents."
                : "The byte range does not describe the file, so there are no signed bytes to check."));
            checks.Add(Check.Fail(CertificateChain, "No verified signer to check."));
            return new Outcome(checks, null, reportSha256);
        }

        var signed = signature.SignedBytes(pdf);
        SignedCms cms;
        try
        {
            cms = new SignedCms(new ContentInfo(signed), detached: true);
            cms.Decode(signature.Cms);
        }
        catch (CryptographicException ex)
        {
            checks.Add(Check.Fail(Signature, "The /Contents value is not a CMS SignedData: " + ex.Message));
            checks.Add(Check.Fail(CertificateChain, "No verified signer to check."));
            return new Outcome(checks, null, reportSha256);
        }

        if (cms.SignerInfos.Count != 1 || cms.SignerInfos[0].Certificate is not { } certificate)
        {
            checks.Add(Check.Fail(Signature, "Expected exactly one signer, with its certificate in the signature."));
            checks.Add(Check.Fail(CertificateChain, "No verified signer to check."));
            return new Outcome(checks, null, reportSha256);
        }

        var signer = cms.SignerInfos[0];
        checks.Add(CheckMessageDigest(signer, signed));
        var signatureCheck = CheckSignature(signer, signature);
        checks.Add(signatureCheck);
        checks.Add(signatureCheck.Status == CheckStatus.Passed
            ? CheckChain(certificate, cms.Certificates, roots, signature.SigningTime)
            : Check.Fail(CertificateChain, "The signature does not verify, so no signer is established."));
        return new Outcome(checks, certificate, reportSha256);
    }

    private static Check CheckByteRange(byte[] pdf, PdfSignature signature)
    {
        var r = signature.ByteRange;
        var shown = $"[{r[0]} {r[1]} {r[2]} {r[3]}]";
        if (!signature.RangesInsideFile(pdf.Length))
        {
            return Check.Fail(ByteRange, $"/ByteRange {shown} does not describe two ranges inside this {pdf.Length}-byte file.");
        }

        if (!signature.GapIsContents)
        {
            return Check.Fail(ByteRange, $"The unsigned gap of /ByteRange {shown} is not exactly the /Contents hex string: other bytes escape the signature.");
        }

        if (signature.SignedLength < pdf.Length)
        {
            return Check.Fail(ByteRange,
                $"{pdf.Length - signature.SignedLength} bytes follow the signed revision (an incremental update appended after signing): " +
                "the signature does not cover them, and a PDF reader would show them.");
        }

        return Check.Pass(ByteRange, $"/ByteRange {shown} covers the whole file except the /Contents signature value.");
    }

    private static Check CheckMessageDigest(SignerInfo signer, byte[] signed)
    {
        if (signer.DigestAlgorithm.Value != Sha256Oid)
        {
            return Check.Fail(MessageDigest, $"Digest algorithm {signer.DigestAlgorithm.Value} is not SHA-256.");
        }

        var attribute = signer.SignedAttributes.Cast<CryptographicAttributeObject>().FirstOrDefault(a => a.Oid.Value == MessageDigestOid);
        if (attribute is null || attribute.Values.Count != 1)
        {
            return Check.Fail(MessageDigest, "The signature has no message-digest attribute.");
        }

        var claimed = new Pkcs9MessageDigest();
        claimed.CopyFrom(attribute.Values[0]);
        var actual = SHA256.HashData(signed);
        return CryptographicOperations.FixedTimeEquals(claimed.MessageDigest, actual)
            ? Check.Pass(MessageDigest, $"SHA-256 of the signed bytes ({Convert.ToHexStringLower(actual)[..16]}…) matches the signed message-digest.")
            : Check.Fail(MessageDigest, "The signed bytes changed after signing: their SHA-256 differs from the signed message-digest.");
    }

    private static Check CheckSignature(SignerInfo signer, PdfSignature signature)
    {
        if (signature.SubFilter != CadesDetached)
        {
            return Check.Fail(Signature, $"/SubFilter is {signature.SubFilter ?? "missing"}, expected {CadesDetached}.");
        }

        try
        {
            // Signature only: the chain is built below against the given root, never the system store.
            signer.CheckSignature(verifySignatureOnly: true);
            return Check.Pass(Signature, $"The CAdES signature over the byte range verifies ({signer.SignatureAlgorithm.FriendlyName ?? signer.SignatureAlgorithm.Value}).");
        }
        catch (CryptographicException ex)
        {
            return Check.Fail(Signature, "The CMS signature does not verify over the signed bytes: " + ex.Message);
        }
    }

    private static Check CheckChain(X509Certificate2 certificate, X509Certificate2Collection extra, X509Certificate2Collection roots, DateTimeOffset? signingTime)
    {
        var (built, detail) = BuildChain(certificate, extra, roots, signingTime);
        return built ? Check.Pass(CertificateChain, detail) : Check.Fail(CertificateChain, detail);
    }

    /// <summary>Builds <paramref name="certificate"/>'s chain to one of <paramref name="roots"/> only, judged at <paramref name="at"/>.</summary>
    public static (bool Built, string Detail) BuildChain(X509Certificate2 certificate, X509Certificate2Collection extra, X509Certificate2Collection roots, DateTimeOffset? at)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(extra);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (at is { } time)
        {
            // A report outlives its signing certificate: judge the chain when it was signed.
            chain.ChainPolicy.VerificationTime = time.UtcDateTime;
        }

        if (chain.Build(certificate))
        {
            return (true, $"{certificate.Subject} chains to the given root {chain.ChainElements[^1].Certificate.Subject}.");
        }

        var reasons = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return (false, $"{certificate.Subject} does not chain to the given root: {reasons}");
    }
}
