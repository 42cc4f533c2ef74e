using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Verifications;

public sealed class RotationTests
{
    [Fact]
    public async Task ReportSignedBeforeRotation_StillVerifies_AndNewReportsUseTheNewKey()
    {
        using var directory = new TempDirectory();
        using var services = new ReportServices(directory.Path);
        var before = await services.Issuer.IssueAsync(SampleReports.Create("rpt-before", inventoryRows: 5), CancellationToken.None);

        var rotated = services.Pki.Rotate();
        var after = await services.Issuer.IssueAsync(SampleReports.Create("rpt-after", inventoryRows: 5), CancellationToken.None);

        Assert.NotEqual(before.SigningKeyId, after.SigningKeyId);
        Assert.Equal(JsonWebKeys.KeyId(rotated), after.SigningKeyId);
        Assert.Equal(2, services.Pki.SigningCertificates.Count);
        foreach (var report in new[] { before, after })
        {
            var pdf = await services.Store.ReadPdfAsync(report.ReportId, CancellationToken.None);
            var result = await services.Verifier.VerifyAsync(pdf!, CancellationToken.None);
            Assert.True(result.Valid, string.Join("; ", result.Checks.Where(c => !c.Passed).Select(c => c.Detail)));
        }
    }

    [Fact]
    public async Task RestartedServices_StillVerifyEarlierReports()
    {
        using var directory = new TempDirectory();
        byte[] pdf;
        using (var first = new ReportServices(directory.Path))
        {
            var issued = await first.Issuer.IssueAsync(SampleReports.Create("rpt-restart", inventoryRows: 5), CancellationToken.None);
            pdf = (await first.Store.ReadPdfAsync(issued.ReportId, CancellationToken.None))!;
        }

        using var second = new ReportServices(directory.Path);
        var result = await second.Verifier.VerifyAsync(pdf, CancellationToken.None);

        Assert.True(result.Valid, string.Join("; ", result.Checks.Where(c => !c.Passed).Select(c => c.Detail)));
    }
}
