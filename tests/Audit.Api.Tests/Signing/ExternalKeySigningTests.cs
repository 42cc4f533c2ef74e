using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Signing;

public sealed class ExternalKeySigningTests
{
    [Fact]
    public void ReportSignedWithAnExternalCaKey_IsValidForPdfsigAndOpensslAgainstThatCa()
    {
        // Stand-in for an organisation's own CA: a PKI in another folder whose files are handed over as PEM paths.
        using var caDirectory = new TempDirectory();
        using (new EmbeddedPki(caDirectory.Path, new SigningOptions { RootSubject = "CN=Customer Root, O=Customer", SigningSubject = "CN=Customer Signer, O=Customer" }, TimeProvider.System))
        {
        }

        var signing = Path.Combine(caDirectory.Path, "pki", "signing");
        var name = File.ReadAllText(Path.Combine(signing, "current")).Trim();
        var rootPem = Path.Combine(caDirectory.Path, "pki", "root.crt.pem");
        using var external = new ExternalPemSigningKeyProvider(new ExternalSigningKeyOptions
        {
            CertificatePemPath = Path.Combine(signing, name + ".crt.pem"),
            PrivateKeyPemPath = Path.Combine(signing, name + ".key.pem"),
            ChainPemPath = rootPem,
        });

        var signed = new PadesSigner(external, TimeProvider.System).Sign(ReportRenderer.Render(SampleReports.Create(inventoryRows: 5)), "external");
        var path = Path.Combine(caDirectory.Path, "external.pdf");
        File.WriteAllBytes(path, signed.Bytes);

        var (_, pdfsig) = Tools.Run("pdfsig", path);
        Assert.Contains("Signer Certificate Common Name: Customer Signer", pdfsig);
        Assert.Contains("Signature is Valid.", pdfsig);
        var (exitCode, output) = Tools.OpensslCmsVerify(caDirectory.Path, PdfBytes.SignedBytes(signed.Bytes), PdfBytes.Cms(signed.Bytes), rootPem);
        Assert.True(exitCode == 0, output);
    }
}
