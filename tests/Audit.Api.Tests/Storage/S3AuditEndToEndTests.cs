using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests.Storage;

/// <summary>
/// The service configured with <c>Audit:Storage:Provider=S3</c> runs a whole audit: the model, the evidence and the
/// signed report live in the bucket, and no artifact or report bytes stay in the local data directory.
/// </summary>
public sealed class S3AuditEndToEndTests : IDisposable
{
    private AuditApiFactory? _factory;

    public void Dispose() => _factory?.Dispose();

    [SkippableFact]
    public async Task AnAuditOnS3_UploadsAuditsAndDownloadsItsReport_WithNoArtifactBytesInTheDataDirectory()
    {
        S3TestServer.SkipUnlessAvailable();
        string bucket = await S3TestServer.CreateBucketAsync();
        _factory = new AuditApiFactory(settings: new Dictionary<string, string?>
        {
            ["Audit:Storage:Provider"] = "S3",
            ["Audit:Storage:S3:ServiceUrl"] = S3TestServer.Url,
            ["Audit:Storage:S3:Bucket"] = bucket,
            ["Audit:Storage:S3:AccessKey"] = S3TestServer.AccessKey,
            ["Audit:Storage:S3:SecretKey"] = S3TestServer.SecretKey,
        });
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        byte[] model = TestModels.Conv2d;
        string modelSha256 = Convert.ToHexStringLower(SHA256.HashData(model));

        Assert.Equal("Healthy", await client.GetStringAsync("/health/ready"));
        string modelId = await client.UploadIdAsync(model, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = modelId, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        JsonNode audit = await client.WaitForAuditAsync(id);
        Assert.Equal("succeeded", audit["status"]!.GetValue<string>());

        HttpResponseMessage report = await client.GetAsync($"/api/v1/audits/{id}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        byte[] pdf = await report.Content.ReadAsByteArrayAsync();
        Assert.StartsWith("%PDF-", System.Text.Encoding.ASCII.GetString(pdf, 0, 5), StringComparison.Ordinal);
        string pdfSha256 = Convert.ToHexStringLower(SHA256.HashData(pdf));
        Assert.Equal(model, await client.GetByteArrayAsync($"/api/v1/artifacts/{modelId}/content"));

        // Every evidence file the findings link to is served from the bucket too.
        var evidence = audit.ToJsonString().Split('"').Where(s => s.StartsWith($"/api/v1/audits/{id}/evidence/", StringComparison.Ordinal)).Distinct().ToList();
        foreach (string href in evidence)
        {
            Assert.NotEmpty(await client.GetByteArrayAsync(href));
        }

        IReadOnlyList<string> keys = await S3TestServer.KeysAsync(bucket);
        Assert.Contains($"artifacts/sha256/{modelSha256[..2]}/{modelSha256}", keys);
        Assert.Contains(keys, k => k.StartsWith("reports/", StringComparison.Ordinal) && k.EndsWith("/report.pdf", StringComparison.Ordinal));

        // Nothing in the data directory holds the model or the report: not by name, not by content.
        foreach (string file in Directory.GetFiles(_factory.DataDirectory, "*", SearchOption.AllDirectories))
        {
            Assert.DoesNotContain(modelSha256, file, StringComparison.Ordinal);
            Assert.False(file.EndsWith(".pdf", StringComparison.Ordinal), $"{file} is a PDF in the data directory");
            var info = new FileInfo(file);
            if (info.Length == model.Length || info.Length == pdf.Length)
            {
                string sha256 = Convert.ToHexStringLower(SHA256.HashData(await File.ReadAllBytesAsync(file)));
                Assert.NotEqual(modelSha256, sha256);
                Assert.NotEqual(pdfSha256, sha256);
            }
        }

        Assert.False(Directory.Exists(Path.Combine(_factory.DataDirectory, "artifacts")));
    }
}
