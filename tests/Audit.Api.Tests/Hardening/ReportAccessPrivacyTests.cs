using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace Audit.Api.Tests.Hardening;

/// <summary>
/// A tenant's report-access log tells it who read its reports, but only its own keys by id: a regulator's or
/// another tenant's verification shows a role and a time, never that party's key id.
/// </summary>
public sealed class ReportAccessPrivacyTests
{
    [Fact]
    public async Task AccessLog_ShowsOwnKeyIds_AndOtherPartiesOnlyByRole()
    {
        using var factory = new AuditApiFactory();
        HttpClient acme = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await acme.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await acme.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        Assert.Equal("succeeded", (await acme.WaitForAuditAsync(id))["status"]!.GetValue<string>());
        HttpResponseMessage download = await acme.GetAsync($"/api/v1/audits/{id}/report");
        Assert.Equal(HttpStatusCode.OK, download.StatusCode);
        byte[] pdf = await download.Content.ReadAsByteArrayAsync();

        foreach (string key in new[] { AuditApiFactory.Regulator, AuditApiFactory.GlobexCompliance, AuditApiFactory.AcmeAuditor })
        {
            await VerifyAsync(factory.ClientFor(key), pdf);
        }

        HttpResponseMessage response = await factory.ClientFor(AuditApiFactory.AcmeAuditor).GetAsync("/api/v1/reports/access");
        string text = await response.Content.ReadAsStringAsync();
        JsonArray entries = JsonNode.Parse(text)!.AsArray();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(4, entries.Count);
        JsonNode regulator = Assert.Single(entries, e => e!["role"]!.GetValue<string>() == "regulator")!;
        JsonNode globex = Assert.Single(entries, e => e!["role"]!.GetValue<string>() == "compliance" && e["action"]!.GetValue<string>() == "verification")!;
        JsonNode ownDownload = Assert.Single(entries, e => e!["action"]!.GetValue<string>() == "download")!;
        JsonNode ownVerification = Assert.Single(entries, e => e!["role"]!.GetValue<string>() == "auditor")!;
        Assert.Null(regulator["keyId"]);
        Assert.Null(globex["keyId"]);
        Assert.NotNull(regulator["at"]);
        // The stored log does hold every key id (the operator's record); only the tenant's view leaves others out.
        Dictionary<string, string> stored = await KeyIdsByRoleAndActionAsync(factory.DataDirectory);
        Assert.Equal(stored["compliance/download"], ownDownload["keyId"]!.GetValue<string>());
        Assert.Equal(stored["auditor/verification"], ownVerification["keyId"]!.GetValue<string>());
        Assert.DoesNotContain(stored["regulator/verification"], text, StringComparison.Ordinal);
        Assert.DoesNotContain(stored["compliance/verification"], text, StringComparison.Ordinal);
    }

    private static async Task VerifyAsync(HttpClient client, byte[] pdf)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(pdf);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");
        form.Add(file, "file", "report.pdf");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/v1/verifications", form)).StatusCode);
    }

    private static async Task<Dictionary<string, string>> KeyIdsByRoleAndActionAsync(string data)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT role || '/' || action, key_id FROM report_access";
        var ids = new Dictionary<string, string>(StringComparer.Ordinal);
        await using SqliteDataReader reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetString(0), reader.GetString(1));
        }

        return ids;
    }
}
