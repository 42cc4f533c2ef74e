using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests;

/// <summary>Strong ETags and 304s on content that never changes; listing, downloading and deleting artifacts.</summary>
public sealed class HttpConventionsTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    private string BlobPath(string sha256) => Path.Combine(_factory.DataDirectory, "artifacts", "sha256", sha256[..2], sha256);

    private static async Task<HttpResponseMessage> GetIfNoneMatchAsync(HttpClient client, string url, EntityTagHeaderValue tag)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.IfNoneMatch.Add(tag);
        return await client.SendAsync(request);
    }

    [Fact]
    public async Task Artifacts_AreListedDownloadedWithETagAndDeleted()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        byte[] model = TestModels.Conv2d;
        string sha256 = Convert.ToHexStringLower(SHA256.HashData(model));
        string id = await acme.UploadIdAsync(model, "model");

        JsonNode page = await (await acme.GetAsync("/api/v1/artifacts?page=1&pageSize=10")).JsonAsync();
        Assert.Equal(1, page["total"]!.GetValue<long>());
        Assert.Equal(id, page["items"]![0]!["id"]!.GetValue<string>());
        JsonNode other = await (await _factory.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync("/api/v1/artifacts")).JsonAsync();
        Assert.Equal(0, other["total"]!.GetValue<long>());

        HttpResponseMessage content = await acme.GetAsync($"/api/v1/artifacts/{id}/content");
        Assert.Equal(HttpStatusCode.OK, content.StatusCode);
        Assert.Equal(model, await content.Content.ReadAsByteArrayAsync());
        Assert.Equal($"\"{sha256}\"", content.Headers.ETag!.Tag);
        Assert.False(content.Headers.ETag.IsWeak);
        Assert.Contains("immutable", content.Headers.CacheControl!.Extensions.Select(e => e.Name));
        Assert.True(content.Headers.CacheControl.Private);

        HttpResponseMessage unchanged = await GetIfNoneMatchAsync(acme, $"/api/v1/artifacts/{id}/content", content.Headers.ETag);
        Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        Assert.Empty(await unchanged.Content.ReadAsByteArrayAsync());

        Assert.Equal(HttpStatusCode.NoContent, (await acme.DeleteAsync($"/api/v1/artifacts/{id}")).StatusCode);
        await (await acme.GetAsync($"/api/v1/artifacts/{id}")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await acme.DeleteAsync($"/api/v1/artifacts/{id}")).AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.False(File.Exists(BlobPath(sha256)));
    }

    [Fact]
    public async Task DeleteArtifact_WhoseBytesAnotherArtifactShares_KeepsTheBlob()
    {
        byte[] model = TestModels.Conv2d;
        string sha256 = Convert.ToHexStringLower(SHA256.HashData(model));
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string first = await acme.UploadIdAsync(model, "model");
        string second = await _factory.ClientFor(AuditApiFactory.GlobexCompliance).UploadIdAsync(model, "model");

        Assert.Equal(HttpStatusCode.NoContent, (await acme.DeleteAsync($"/api/v1/artifacts/{first}")).StatusCode);

        Assert.True(File.Exists(BlobPath(sha256)));
        HttpResponseMessage kept = await _factory.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync($"/api/v1/artifacts/{second}/content");
        Assert.Equal(model, await kept.Content.ReadAsByteArrayAsync());
        // Another tenant cannot delete (or see) what is not theirs.
        await (await acme.DeleteAsync($"/api/v1/artifacts/{second}")).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task DeleteArtifact_ReferencedByAnAudit_Returns409AndKeepsIt()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        byte[] model = TestModels.Conv2d;
        string id = await acme.UploadIdAsync(model, "model");
        Assert.Equal(HttpStatusCode.Accepted, (await acme.SubmitAsync(new { modelArtifactId = id, profileId = "trojan-scan" })).StatusCode);

        await (await acme.DeleteAsync($"/api/v1/artifacts/{id}")).AssertProblemAsync(HttpStatusCode.Conflict);

        Assert.Equal(HttpStatusCode.OK, (await acme.GetAsync($"/api/v1/artifacts/{id}")).StatusCode);
        Assert.True(File.Exists(BlobPath(Convert.ToHexStringLower(SHA256.HashData(model)))));
    }

    [Fact]
    public async Task DeleteArtifact_ByAuditor_Returns403()
    {
        string id = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadIdAsync(TestModels.Conv2d, "model");

        await (await _factory.ClientFor(AuditApiFactory.AcmeAuditor).DeleteAsync($"/api/v1/artifacts/{id}")).AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task ListArtifacts_WithPageSizeZero_ReturnsFieldError()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).GetAsync("/api/v1/artifacts?pageSize=0");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "pageSize");
    }

    [Fact]
    public async Task ProfileVersion_HasStrongETagAndAnswers304()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeAuditor);
        HttpResponseMessage latest = await client.GetAsync("/api/v1/profiles/trojan-scan");
        JsonNode profile = await latest.JsonAsync();
        string version = profile["version"]!.GetValue<string>();
        Assert.NotNull(latest.Headers.ETag);
        Assert.True(latest.Headers.CacheControl!.NoCache);

        string url = $"/api/v1/profiles/trojan-scan?version={version}";
        HttpResponseMessage pinned = await client.GetAsync(url);
        Assert.Equal(latest.Headers.ETag, pinned.Headers.ETag);
        Assert.Contains("immutable", pinned.Headers.CacheControl!.Extensions.Select(e => e.Name));
        Assert.Equal(HttpStatusCode.NotModified, (await GetIfNoneMatchAsync(client, url, pinned.Headers.ETag!)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await GetIfNoneMatchAsync(client, url, new EntityTagHeaderValue("\"other\""))).StatusCode);
    }
}

/// <summary>The signed report of a finished audit: strong ETag, 304 on revalidation.</summary>
public sealed class ReportConditionalRequestTests : IDisposable
{
    private readonly AuditApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task Report_HasStrongETagFromItsBytesAndAnswers304()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        Assert.Equal("succeeded", (await client.WaitForAuditAsync(id))["status"]!.GetValue<string>());

        HttpResponseMessage report = await client.GetAsync($"/api/v1/audits/{id}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        byte[] pdf = await report.Content.ReadAsByteArrayAsync();
        Assert.Equal($"\"{Convert.ToHexStringLower(SHA256.HashData(pdf))}\"", report.Headers.ETag!.Tag);
        Assert.Contains("immutable", report.Headers.CacheControl!.Extensions.Select(e => e.Name));

        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/audits/{id}/report");
        request.Headers.IfNoneMatch.Add(report.Headers.ETag);
        Assert.Equal(HttpStatusCode.NotModified, (await client.SendAsync(request)).StatusCode);
    }
}
