using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Reports;

/// <summary>The issued report checked with the tools a regulator has: pdfsig, openssl, qpdf.</summary>
public sealed class SignedReportTests(IssuedReportFixture fixture) : IClassFixture<IssuedReportFixture>
{
    [Fact]
    public void Pdfsig_ReportsAValidEtsiCadesSignatureOverTheWholeDocument()
    {
        var path = fixture.WritePdf("pdfsig.pdf");

        var (_, output) = Tools.Run("pdfsig", path);

        // pdfsig exits 0 even for a broken signature: only its text tells.
        Assert.Contains("Signature is Valid.", output);
        Assert.Contains("Signature Type: ETSI.CAdES.detached", output);
        Assert.Contains("Signing Hash Algorithm: SHA-256", output);
        Assert.Contains("Total document signed", output);
        Assert.DoesNotContain("Not total document signed", output);
    }

    [Fact]
    public void OpensslCmsVerify_AcceptsTheSignatureAgainstThePublishedRoot()
    {
        var (exitCode, output) = Tools.OpensslCmsVerify(fixture.Directory, PdfBytes.SignedBytes(fixture.Pdf), PdfBytes.Cms(fixture.Pdf), fixture.Services.RootPemPath);

        Assert.True(exitCode == 0, output);
        Assert.Contains("Verification successful", output);
    }

    [Fact]
    public void OpensslCmsVerify_RejectsTheSignatureOverOtherBytes()
    {
        var signed = PdfBytes.SignedBytes(fixture.Pdf);
        signed[signed.Length / 2] ^= 0x01;

        var (exitCode, _) = Tools.OpensslCmsVerify(fixture.Directory, signed, PdfBytes.Cms(fixture.Pdf), fixture.Services.RootPemPath);

        Assert.NotEqual(0, exitCode);
    }

    [Fact]
    public void QpdfCheck_FindsNoErrorsOrWarningsInTheSignedReport()
    {
        var path = fixture.WritePdf("qpdf.pdf");

        var (exitCode, output) = Tools.Run("qpdf", "--check", path);

        // qpdf exits 3 for warnings, 2 for errors.
        Assert.True(exitCode == 0, output);
        Assert.Contains("No syntax or stream encoding errors found", output);
        Assert.DoesNotContain("WARNING", output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Cms_CarriesThePadesSignedAttributes_AndNoSigningTimeAttribute()
    {
        var cms = new SignedCms(new ContentInfo(PdfBytes.SignedBytes(fixture.Pdf)), detached: true);
        cms.Decode(PdfBytes.Cms(fixture.Pdf));
        Assert.Single(cms.SignerInfos);
        var signer = cms.SignerInfos[0];
        signer.CheckSignature(verifySignatureOnly: true);

        var attributes = signer.SignedAttributes.Cast<CryptographicAttributeObject>().ToDictionary(a => a.Oid.Value!);
        Assert.Contains(CadesSignature.ContentTypeOid, attributes.Keys);
        Assert.Contains(CadesSignature.MessageDigestOid, attributes.Keys);
        Assert.Contains(CadesSignature.SigningCertificateV2Oid, attributes.Keys);
        Assert.DoesNotContain("1.2.840.113549.1.9.5", attributes.Keys); // signing-time: not allowed in PAdES B-B
        Assert.Equal("1.2.840.10045.4.3.2", signer.SignatureAlgorithm.Value); // ecdsa-with-SHA256
        Assert.Equal(CadesSignature.Sha256Oid, signer.DigestAlgorithm.Value);

        var essHash = CadesSignature.ReadSigningCertificateV2Hash(attributes[CadesSignature.SigningCertificateV2Oid].Values[0].RawData);
        Assert.Equal(SHA256.HashData(signer.Certificate!.RawData), essHash);
        Assert.Equal(256, signer.Certificate.GetECDsaPublicKey()!.KeySize);
    }
}
