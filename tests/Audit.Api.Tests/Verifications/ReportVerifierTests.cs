using Audit.Api.Features.Reports;
using Audit.Api.Features.Verifications;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Verifications;

public sealed class ReportVerifierTests(IssuedReportFixture fixture) : IClassFixture<IssuedReportFixture>
{
    private static readonly string[] AllChecks =
    [
        ReportVerifier.Signature, ReportVerifier.CertificateChain, ReportVerifier.WholeDocumentCovered,
        ReportVerifier.NoLaterIncrementalUpdate, ReportVerifier.ReportKnown, ReportVerifier.TransparencyLogInclusion,
    ];

    [Fact]
    public async Task GenuineReport_IsValid_WithEveryCheckPassed_AndItsClaims()
    {
        var result = await fixture.Services.Verifier.VerifyAsync(fixture.Pdf, CancellationToken.None);

        Assert.True(result.Valid, string.Join("; ", result.Checks.Select(c => $"{c.Name}: {c.Detail}")));
        Assert.Equal(AllChecks.Order(), result.Checks.Select(c => c.Name).Order());
        Assert.All(result.Checks, c => Assert.True(c.Passed, c.Detail));
        Assert.NotNull(result.Claims);
        Assert.Equal("aud-42", result.Claims.AuditId);
        Assert.Equal(new string('a', 64), result.Claims.ModelSha256);
        Assert.Equal("eu-ai-act-robustness", result.Claims.ProfileId);
        Assert.Equal("fail", result.Claims.Verdict);
        Assert.Equal(fixture.Issued.LogIndex, result.LogIndex);
        Assert.Equal(fixture.Issued.SigningTime.ToUnixTimeSeconds(), result.SigningTime!.Value.ToUnixTimeSeconds());
    }

    [Fact]
    public async Task FlippedByte_IsInvalid_BecauseTheSignatureNoLongerMatches()
    {
        var tampered = (byte[])fixture.Pdf.Clone();
        var range = PdfBytes.ByteRange(tampered);
        tampered[range[1] / 2] ^= 0x20; // inside the first signed range

        var result = await fixture.Services.Verifier.VerifyAsync(tampered, CancellationToken.None);

        Assert.False(result.Valid);
        Assert.Contains(ReportVerifier.Signature, result.FailedChecks);
        Assert.Contains(ReportVerifier.ReportKnown, result.FailedChecks);
    }

    [Fact]
    public async Task FlippedByteAfterTheSignature_IsInvalid()
    {
        var tampered = (byte[])fixture.Pdf.Clone();
        var range = PdfBytes.ByteRange(tampered);
        tampered[range[2] + (range[3] / 2)] ^= 0x01; // inside the second signed range

        var result = await fixture.Services.Verifier.VerifyAsync(tampered, CancellationToken.None);

        Assert.False(result.Valid);
        Assert.Contains(ReportVerifier.Signature, result.FailedChecks);
    }

    [Fact]
    public async Task ResavedFile_IsInvalid()
    {
        var original = Path.Combine(fixture.Directory, "resave-in.pdf");
        var resaved = Path.Combine(fixture.Directory, "resave-out.pdf");
        File.WriteAllBytes(original, fixture.Pdf);
        var (exitCode, output) = Tools.Run("qpdf", original, resaved);
        Assert.True(exitCode == 0, output);

        var result = await fixture.Services.Verifier.VerifyAsync(File.ReadAllBytes(resaved), CancellationToken.None);

        Assert.False(result.Valid);
        Assert.True(
            result.FailedChecks.Contains(ReportVerifier.Signature) || result.FailedChecks.Contains(ReportVerifier.WholeDocumentCovered),
            string.Join(", ", result.FailedChecks));
        Assert.Contains(ReportVerifier.ReportKnown, result.FailedChecks);
    }

    [Fact]
    public async Task AppendedIncrementalUpdate_IsInvalid_AndOnlyThatCheckFails()
    {
        var updated = PdfBytes.AppendIncrementalUpdate(fixture.Pdf);
        var path = Path.Combine(fixture.Directory, "incremental.pdf");
        File.WriteAllBytes(path, updated);
        var (_, pdfsig) = Tools.Run("pdfsig", path);
        // The update is well-formed: pdfsig still validates the signed revision but sees it no longer covers the file.
        Assert.Contains("Signature is Valid.", pdfsig);
        Assert.Contains("Not total document signed", pdfsig);

        var result = await fixture.Services.Verifier.VerifyAsync(updated, CancellationToken.None);

        Assert.False(result.Valid);
        Assert.Equal([ReportVerifier.NoLaterIncrementalUpdate], result.FailedChecks);
    }

    [Fact]
    public async Task SignatureByAnotherKey_IsInvalid_BecauseTheChainDoesNotReachOurRoot()
    {
        using var otherDirectory = new TempDirectory();
        using var other = new ReportServices(otherDirectory.Path);
        var forged = other.Signer.Sign(ReportRenderer.Render(SampleReports.Create("rpt-fixture")), "forged");

        var result = await fixture.Services.Verifier.VerifyAsync(forged.Bytes, CancellationToken.None);

        Assert.False(result.Valid);
        Assert.True(result.Checks.Single(c => c.Name == ReportVerifier.Signature).Passed, "The forged signature is well-formed...");
        Assert.Contains(ReportVerifier.CertificateChain, result.FailedChecks); // ...but not ours.
        Assert.Contains(ReportVerifier.ReportKnown, result.FailedChecks);
    }

    [Theory]
    [InlineData("")]
    [InlineData("%PDF-1.7\nnot really a pdf")]
    [InlineData("%PDF-1.7\n/ByteRange [0 99999999 5 5] /Contents <00>")]
    public async Task Garbage_IsInvalid_WithoutThrowing(string content)
    {
        var result = await fixture.Services.Verifier.VerifyAsync(System.Text.Encoding.ASCII.GetBytes(content), CancellationToken.None);

        Assert.False(result.Valid);
        Assert.Contains(ReportVerifier.Signature, result.FailedChecks);
        Assert.Equal(AllChecks.Order(), result.Checks.Select(c => c.Name).Order());
    }
}
