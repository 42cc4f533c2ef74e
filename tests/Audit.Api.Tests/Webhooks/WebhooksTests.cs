using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Webhooks;

public abstract class WebhooksTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(settings: new Dictionary<string, string?>
    {
        ["Audit:Webhooks:AllowLoopbackHttp"] = "true",
        ["Audit:Webhooks:PollInterval"] = "00:00:00.100",
        ["Audit:Webhooks:InitialBackoff"] = "00:00:00.200",
    }, database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task SucceededAudit_IsDeliveredSigned_AfterARetry_AndLogged()
    {
        int port = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        listener.Start();
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage created = await client.PostAsJsonAsync("/api/v1/webhooks", new { url = $"http://127.0.0.1:{port}/hook/", events = new[] { "audit.succeeded" } });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.True(created.Headers.CacheControl?.NoStore, "the secret must not be cached");
        JsonNode webhook = await created.JsonAsync();
        string secret = webhook["secret"]!.GetValue<string>();
        string webhookId = webhook["id"]!.GetValue<string>();
        Assert.Null((await (await client.GetAsync($"/api/v1/webhooks/{webhookId}")).JsonAsync())["secret"]);

        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string auditId = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        // The receiver refuses the first delivery; the retry must bring the same event again.
        (string firstBody, _) = await ReceiveAsync(listener, HttpStatusCode.InternalServerError);
        (string body, string signature) = await ReceiveAsync(listener, HttpStatusCode.OK);

        Assert.Equal(firstBody, body);
        Assert.True(SignatureMatches(secret, signature, body), $"signature {signature} does not sign the body");
        Assert.False(SignatureMatches("whsec_wrong", signature, body));
        JsonNode payload = JsonNode.Parse(body)!;
        Assert.Equal("audit.succeeded", payload["type"]!.GetValue<string>());
        Assert.Equal(auditId, payload["data"]!["auditId"]!.GetValue<string>());
        Assert.Equal("inconclusive", payload["data"]!["verdict"]!.GetValue<string>());

        JsonNode delivery = await WaitForDeliveredAsync(client, webhookId);
        Assert.Equal(2, delivery["attempts"]!.GetValue<int>());
        Assert.Equal(200, delivery["lastStatusCode"]!.GetValue<int>());
        Assert.Equal("audit.succeeded", delivery["eventType"]!.GetValue<string>());
    }

    [DatabaseTheory]
    [InlineData("http://example.com/hook")]
    [InlineData("https://10.1.2.3/hook")]
    [InlineData("https://169.254.169.254/latest/meta-data")]
    [InlineData("https://192.168.0.10/hook")]
    [InlineData("ftp://example.com/hook")]
    [InlineData("not a url")]
    public async Task Create_WithUnsafeUrl_ReturnsValidationProblem(string url)
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsJsonAsync("/api/v1/webhooks", new { url, events = new[] { "audit.succeeded" } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "url");
    }

    [DatabaseFact]
    public async Task Create_LoopbackHttp_IsRefusedUnlessConfigured()
    {
        using var strict = new AuditApiFactory(worker: false, database: database);

        HttpResponseMessage response = await strict.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsJsonAsync("/api/v1/webhooks", new { url = "http://127.0.0.1:9/hook", events = new[] { "audit.succeeded" } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "url");
    }

    [DatabaseFact]
    public async Task Create_WithUnknownEvent_ReturnsValidationProblem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsJsonAsync("/api/v1/webhooks", new { url = "https://example.com/hook", events = new[] { "audit.exploded" } });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "events[0]");
    }

    [DatabaseFact]
    public async Task Webhooks_OfAnotherTenant_AreInvisibleAndCannotBeDeleted()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpClient globex = _factory.ClientFor(AuditApiFactory.GlobexCompliance);
        string id = (await (await acme.PostAsJsonAsync("/api/v1/webhooks", new { url = "https://example.com/hook", events = new[] { "audit.failed" } })).JsonAsync())["id"]!.GetValue<string>();

        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync($"/api/v1/webhooks/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.GetAsync($"/api/v1/webhooks/{id}/deliveries")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await globex.DeleteAsync($"/api/v1/webhooks/{id}")).StatusCode);
        Assert.Empty((await (await globex.GetAsync("/api/v1/webhooks")).JsonAsync()).AsArray());

        Assert.Equal(HttpStatusCode.NoContent, (await acme.DeleteAsync($"/api/v1/webhooks/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await acme.GetAsync($"/api/v1/webhooks/{id}")).StatusCode);
    }

    /// <summary>An independent check of the documented scheme: HMAC-SHA256 over "t.body", hex, in v1.</summary>
    private static bool SignatureMatches(string secret, string header, string body)
    {
        Dictionary<string, string> parts = header.Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        long t = long.Parse(parts["t"], CultureInfo.InvariantCulture);
        Assert.InRange(TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() - t, -5, 300);
        byte[] mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{parts["t"]}.{body}"));
        return string.Equals(Convert.ToHexString(mac), parts["v1"], StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<(string Body, string Signature)> ReceiveAsync(HttpListener listener, HttpStatusCode answer)
    {
        HttpListenerContext context = await listener.GetContextAsync().WaitAsync(TimeSpan.FromSeconds(120));
        using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
        string body = await reader.ReadToEndAsync();
        string signature = context.Request.Headers["Audit-Signature"] ?? "";
        context.Response.StatusCode = (int)answer;
        context.Response.Close();
        return (body, signature);
    }

    private static async Task<JsonNode> WaitForDeliveredAsync(HttpClient client, string webhookId)
    {
        for (int i = 0; i < 100; i++)
        {
            JsonArray deliveries = (await (await client.GetAsync($"/api/v1/webhooks/{webhookId}/deliveries")).JsonAsync()).AsArray();
            if (deliveries.Count == 1 && deliveries[0]!["status"]!.GetValue<string>() == "delivered")
            {
                return deliveries[0]!;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("The delivery was not recorded as delivered.");
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}

public sealed class WebhooksTestsOnSqlite() : WebhooksTests(DatabaseProvider.Sqlite);

public sealed class WebhooksTestsOnPostgres() : WebhooksTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;
