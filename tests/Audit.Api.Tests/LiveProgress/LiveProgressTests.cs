using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.LiveProgress;

public sealed class LiveProgressTests
{
    [Fact]
    public async Task RunningAudit_ShowsItsCurrentStepAndEstimate()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        AuditRepository audits = factory.Services.GetRequiredService<AuditRepository>();
        DateTimeOffset now = TimeProvider.System.GetUtcNow();
        Assert.NotNull(await audits.TryClaimAsync("w1", now, TimeSpan.FromMinutes(5), CancellationToken.None));

        await audits.SetLiveStateAsync(id, "w1", "neural-cleanse (trigger-reverse-engineering)", now.AddMinutes(10), CancellationToken.None);
        await audits.SetLiveStateAsync(id, "not-the-owner", "stale (step)", now.AddMinutes(1), CancellationToken.None);
        JsonNode audit = await (await client.GetAsync($"/api/v1/audits/{id}")).JsonAsync();

        Assert.Equal("running", audit["status"]!.GetValue<string>());
        Assert.Equal("neural-cleanse (trigger-reverse-engineering)", audit["currentStep"]!.GetValue<string>());
        double eta = audit["etaSeconds"]!.GetValue<double>();
        Assert.InRange(eta, 500, 600);
    }

    [Fact]
    public async Task Events_StreamProgressFindingsAndTheFinalStatus_ThenEnd()
    {
        using var factory = new AuditApiFactory(settings: new Dictionary<string, string?> { ["Audit:EventsPollInterval"] = "00:00:00.100" });
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        using HttpResponseMessage response = await client.GetAsync($"/api/v1/audits/{id}/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        List<(string Type, JsonNode Data)> events = await ReadEventsAsync(response, timeout.Token);

        Assert.Equal("status", events[^1].Type);
        Assert.Equal("succeeded", events[^1].Data["status"]!.GetValue<string>());
        (string _, JsonNode finding) = Assert.Single(events, e => e.Type == "finding");
        Assert.Equal("model-inventory", finding["probe"]!.GetValue<string>());
        Assert.Equal(1.0, events.Last(e => e.Type == "progress").Data["progress"]!.GetValue<double>());
        Assert.True(events.FindIndex(e => e.Type == "finding") < events.Count - 1, "findings come before the final status");
    }

    [Fact]
    public async Task Events_OfAnotherTenantsAudit_AreNotFound()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient acme = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await acme.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await acme.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        HttpResponseMessage response = await factory.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync($"/api/v1/audits/{id}/events");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Metrics_AfterAnAudit_ShowTheProbeDurationHistogramPerProbe_ToAdminsOnly()
    {
        using var factory = new AuditApiFactory();
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        Assert.Equal("succeeded", (await client.WaitForAuditAsync(id))["status"]!.GetValue<string>());

        Assert.Equal(HttpStatusCode.Forbidden, (await client.GetAsync("/metrics")).StatusCode);
        HttpResponseMessage response = await factory.ClientFor(AuditApiFactory.Admin).GetAsync("/metrics");
        string text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        string[] lines = text.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("audit_probe_duration_seconds_count{", StringComparison.Ordinal) && l.Contains("probe=\"model-inventory\"", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("audit_transitions_total{", StringComparison.Ordinal) && l.Contains("status=\"succeeded\"", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("audit_queue_depth", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("audit_workers_busy", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null, "simple")]
    [InlineData("json", "json")]
    public void ConsoleFormatter_IsTheConfiguredOne_SimpleOnlyByDefault(string? configured, string expected)
    {
        using var factory = new AuditApiFactory(worker: false, settings: new Dictionary<string, string?> { ["Logging:Console:FormatterName"] = configured });

        string? formatter = factory.Services.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>>().CurrentValue.FormatterName;

        Assert.Equal(expected, formatter);
    }

    private static async Task<List<(string Type, JsonNode Data)>> ReadEventsAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var events = new List<(string, JsonNode)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        string? type = null;
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                events.Add((type ?? "message", JsonNode.Parse(line["data: ".Length..])!));
            }
        }

        return events;
    }
}
