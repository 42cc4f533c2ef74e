using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Audit.Api.Features.Reports;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;
using PdfSharp.Pdf.IO;

namespace Audit.Api.Features.Verifications;

/// <summary>One named check and why it passed or failed.</summary>
public sealed record VerificationCheck(string Name, bool Passed, string Detail);

/// <summary>The verdict on an uploaded report: valid only when every check passed.</summary>
public sealed record VerificationResult(
    bool Valid,
    IReadOnlyList<VerificationCheck> Checks,
    ReportClaims? Claims,
    DateTimeOffset? SigningTime,
    string? Signer,
    long? LogIndex)
{
    public IEnumerable<string> FailedChecks => Checks.Where(c => !c.Passed).Select(c => c.Name);
}

/// <summary>
/// Checks that a PDF is a genuine, complete, unaltered report of this service: a valid CAdES signature, a chain to
/// our root, a byte range covering the whole signed revision, nothing appended afterwards, a report this service
/// issued with exactly these bytes, and its statement included in the transparency log under the current tree head.
/// </summary>
public sealed class ReportVerifier(ISigningKeyProvider keys, IIssuedReportStore reports, TransparencyLog log)
{
    public const string Signature = "signature";
    public const string CertificateChain = "certificateChain";
    public const string WholeDocumentCovered = "wholeDocumentCovered";
    public const string NoLaterIncrementalUpdate = "noLaterIncrementalUpdate";
    public const string ReportKnown = "reportKnown";
    public const string TransparencyLogInclusion = "transparencyLogInclusion";

    private const string EcdsaWithSha256 = "1.2.840.10045.4.3.2";

    public async Task<VerificationResult> VerifyAsync(byte[] pdf, CancellationToken cancellationToken)
    {
        var checks = new List<VerificationCheck>();
        var info = PdfSignatureInspector.Inspect(pdf);
        if (info is null)
        {
            checks.Add(new(Signature, false, "The document carries no signature."));
            return Finish(checks, null, null, null, null);
        }

        var revisionLength = (int)Math.Min(info.SignedRevisionLength, pdf.Length);
        var revision = pdf.AsSpan(0, revisionLength).ToArray();
        var (signer, signatureCheck) = CheckSignature(pdf, info);
        checks.Add(signatureCheck);
        checks.Add(CheckChain(signer, info));
        checks.Add(new(WholeDocumentCovered, info.HoleIsContents && EndsWithEof(revision),
            info.HoleIsContents
                ? EndsWithEof(revision) ? "The byte range covers the whole signed revision except the signature value." : "The signed revision does not end where the file's trailer does."
                : "The unsigned gap in the byte range is not exactly the signature value."));
        checks.Add(new(NoLaterIncrementalUpdate, info.SignedRevisionLength == pdf.Length,
            info.SignedRevisionLength == pdf.Length
                ? "Nothing follows the signed revision."
                : $"{pdf.Length - info.SignedRevisionLength} bytes were added after the signed revision."));

        var claims = ReadClaims(revision);
        var issued = claims is null ? null : await reports.FindAsync(claims.ReportId, cancellationToken);
        var revisionHash = Convert.ToHexStringLower(SHA256.HashData(revision));
        checks.Add(issued is null
            ? new(ReportKnown, false, claims is null ? "The document carries no report claims." : $"This service has not issued report {claims.ReportId}.")
            : new(ReportKnown, issued.Sha256 == revisionHash,
                issued.Sha256 == revisionHash ? $"Report {issued.ReportId} was issued by this service with exactly these bytes." : $"Report {issued.ReportId} was issued with different bytes."));
        checks.Add(await CheckLogAsync(issued, revisionHash, cancellationToken));
        return Finish(checks, claims, info.SigningTime, signer?.Subject, issued?.LogIndex);
    }

    private static VerificationResult Finish(List<VerificationCheck> checks, ReportClaims? claims, DateTimeOffset? time, string? signer, long? index)
    {
        foreach (var name in new[] { Signature, CertificateChain, WholeDocumentCovered, NoLaterIncrementalUpdate, ReportKnown, TransparencyLogInclusion })
        {
            if (checks.All(c => c.Name != name))
            {
                checks.Add(new(name, false, "Not checked: the document has no usable signature."));
            }
        }

        return new VerificationResult(checks.All(c => c.Passed), checks, claims, time, signer, index);
    }

    private static (X509Certificate2? Signer, VerificationCheck Check) CheckSignature(byte[] pdf, PdfSignatureInfo info)
    {
        if (info.Cms.Length == 0)
        {
            return (null, new(Signature, false, "No CMS signature value was found in the signature's /Contents."));
        }

        if (info.SubFilter != PadesSigner.SubFilter)
        {
            return (null, new(Signature, false, $"SubFilter is {info.SubFilter ?? "missing"}, expected {PadesSigner.SubFilter}."));
        }

        long first = info.ByteRange[1], secondStart = info.ByteRange[2], second = info.ByteRange[3];
        var signed = new byte[first + second];
        pdf.AsSpan(0, (int)first).CopyTo(signed);
        pdf.AsSpan((int)secondStart, (int)second).CopyTo(signed.AsSpan((int)first));
        try
        {
            var cms = new SignedCms(new ContentInfo(signed), detached: true);
            cms.Decode(info.Cms);
            if (cms.SignerInfos.Count != 1)
            {
                return (null, new(Signature, false, "Expected exactly one signer."));
            }

            var signerInfo = cms.SignerInfos[0];
            var certificate = signerInfo.Certificate;
            if (certificate is null)
            {
                return (null, new(Signature, false, "The signer's certificate is not in the signature."));
            }

            if (signerInfo.DigestAlgorithm.Value != CadesSignature.Sha256Oid || signerInfo.SignatureAlgorithm.Value != EcdsaWithSha256)
            {
                return (certificate, new(Signature, false, "Only ECDSA with SHA-256 is accepted."));
            }

            signerInfo.CheckSignature(verifySignatureOnly: true);
            var essHash = signerInfo.SignedAttributes.Cast<CryptographicAttributeObject>()
                .FirstOrDefault(a => a.Oid.Value == CadesSignature.SigningCertificateV2Oid)?.Values[0].RawData;
            if (essHash is null || !CadesSignature.ReadSigningCertificateV2Hash(essHash).AsSpan().SequenceEqual(SHA256.HashData(certificate.RawData)))
            {
                return (certificate, new(Signature, false, "signing-certificate-v2 is missing or names another certificate."));
            }

            return (certificate, new(Signature, true, "The CAdES signature over the byte range verifies (ECDSA P-256, SHA-256)."));
        }
        catch (Exception ex) when (ex is CryptographicException or System.Formats.Asn1.AsnContentException)
        {
            return (null, new(Signature, false, "The signature does not match the document: " + ex.Message));
        }
    }

    private VerificationCheck CheckChain(X509Certificate2? signer, PdfSignatureInfo info)
    {
        if (signer is null)
        {
            return new(CertificateChain, false, "No signer certificate to check.");
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(keys.TrustAnchors.ToArray());
        chain.ChainPolicy.ExtraStore.AddRange(keys.Intermediates.ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        // Old reports stay verifiable after their key expired: the chain is judged at the claimed signing time.
        if (info.SigningTime is { } time)
        {
            chain.ChainPolicy.VerificationTime = time.UtcDateTime;
        }

        var built = chain.Build(signer);
        return built
            ? new(CertificateChain, true, $"{signer.Subject} chains to {chain.ChainElements[^1].Certificate.Subject}.")
            : new(CertificateChain, false, "The signer does not chain to this service's root: " +
                string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct()));
    }

    private async Task<VerificationCheck> CheckLogAsync(IssuedReport? issued, string revisionHash, CancellationToken cancellationToken)
    {
        if (issued is null)
        {
            return new(TransparencyLogInclusion, false, "No issued report to look up in the log.");
        }

        var entry = await log.GetEntryAsync(issued.LogIndex, cancellationToken);
        var statement = JsonSerializer.Deserialize<ReportStatement>(entry);
        if (statement is null || statement.ReportSha256 != revisionHash || statement.ReportId != issued.ReportId)
        {
            return new(TransparencyLogInclusion, false, $"Log entry {issued.LogIndex} does not record these bytes.");
        }

        var head = await log.GetTreeHeadAsync(cancellationToken);
        if (log.VerifyTreeHead(head) is null)
        {
            return new(TransparencyLogInclusion, false, "The current tree head's signature does not verify.");
        }

        var proof = await log.GetInclusionProofAsync(issued.LogIndex, head.TreeSize, cancellationToken);
        var included = MerkleTree.VerifyInclusion(
            MerkleTree.HashLeaf(entry), issued.LogIndex, head.TreeSize, [.. proof.AuditPath.Select(Convert.FromHexString)], Convert.FromHexString(head.RootHash));
        return new(TransparencyLogInclusion, included, included
            ? $"Entry {issued.LogIndex} is included in the signed tree head of size {head.TreeSize}."
            : $"The inclusion proof for entry {issued.LogIndex} does not lead to the tree head's root.");
    }

    private static ReportClaims? ReadClaims(byte[] revision)
    {
        try
        {
            using var stream = new MemoryStream(revision, writable: false);
            using var document = PdfReader.Open(stream, PdfDocumentOpenMode.Import);
            var json = document.Info.Elements.GetString(ReportClaims.InfoKey);
            return string.IsNullOrEmpty(json) ? null : ReportClaims.TryParse(json);
        }
#pragma warning disable CA1031 // Any parser failure on uploaded bytes means "no claims", never a crash.
        catch (Exception)
#pragma warning restore CA1031
        {
            return null;
        }
    }

    private static bool EndsWithEof(byte[] revision)
    {
        var tail = System.Text.Encoding.Latin1.GetString(revision.AsSpan(Math.Max(0, revision.Length - 32))).TrimEnd();
        return tail.EndsWith("%%EOF", StringComparison.Ordinal);
    }
}
