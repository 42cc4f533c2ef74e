using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Reports;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.Verifications;

public sealed class RotationApiTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task AdminRotation_PublishesANewKey_AndReportsSignedBeforeStillVerify()
    {
        var issuer = _factory.Services.GetRequiredService<ReportIssuer>();
        var store = _factory.Services.GetRequiredService<IIssuedReportStore>();
        var before = await issuer.IssueAsync(SampleReports.Create("rpt_before", inventoryRows: 5), CancellationToken.None);

        HttpResponseMessage rotated = await _factory.ClientFor(AuditApiFactory.Admin).PostAsync("/api/v1/admin/signing-keys/rotate", null);
        Assert.Equal(HttpStatusCode.OK, rotated.StatusCode);
        string newKey = (await rotated.JsonAsync())["keyId"]!.GetValue<string>();
        var after = await issuer.IssueAsync(SampleReports.Create("rpt_after", inventoryRows: 5), CancellationToken.None);

        JsonNode keys = await (await _factory.CreateClient().GetAsync("/api/v1/signing-keys")).JsonAsync();
        Assert.Equal(2, keys["signingKeys"]!.AsArray().Count);
        Assert.Equal(newKey, keys["signingKeys"]!.AsArray().Single(k => k!["current"]!.GetValue<bool>())!["keyId"]!.GetValue<string>());
        Assert.Equal(newKey, after.SigningKeyId);
        Assert.NotEqual(newKey, before.SigningKeyId);
        foreach (var report in new[] { before, after })
        {
            using var form = new MultipartFormDataContent();
            var file = new ByteArrayContent((await store.ReadPdfAsync(report.ReportId, CancellationToken.None))!);
            file.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");
            form.Add(file, "file", "report.pdf");
            JsonNode result = await (await _factory.ClientFor(AuditApiFactory.Regulator).PostAsync("/api/v1/verifications", form)).JsonAsync();
            Assert.True(result["valid"]!.GetValue<bool>(), result.ToJsonString());
        }
    }

    [Fact]
    public async Task Rotation_IsForAdminsOnly()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsync("/api/v1/admin/signing-keys/rotate", null);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }
}
