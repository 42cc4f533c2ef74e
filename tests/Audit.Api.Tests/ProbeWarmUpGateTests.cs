using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits.Running;
using Audit.Api.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests;

/// <summary>
/// Audit:Worker:WarmUp: the service is not ready, and claims no audit, until its worker has run the trojan-scan probes
/// once on the synthetic model; then the queued audit runs.
/// </summary>
public sealed class ProbeWarmUpGateTests
{
    [Fact]
    public async Task WhileTheProbesWarmUp_TheServiceIsNotReady_AndAQueuedAuditWaits_ThenItRuns()
    {
        using var factory = new AuditApiFactory(settings: new Dictionary<string, string?> { ["Audit:Worker:WarmUp"] = "true" });
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        int notReady = 0;
        var clock = Stopwatch.StartNew();
        while (true)
        {
            // The audit is read before readiness: a 503 after the read means the warm-up had not ended when the audit
            // was read, so no worker could have claimed it yet.
            string status = (await (await client.GetAsync($"/api/v1/audits/{id}")).JsonAsync())["status"]!.GetValue<string>();
            HttpResponseMessage ready = await client.GetAsync("/health/ready");
            if (ready.StatusCode == HttpStatusCode.OK)
            {
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal("queued", status);
            notReady++;
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(3), "the warm-up did not end");
            await Task.Delay(100);
        }

        Assert.True(notReady > 0, "the service was ready before the warm-up could have run");
        Assert.True(factory.Services.GetRequiredService<ProbeWarmUpGate>().Done);
        JsonNode done = await client.WaitForAuditAsync(id, TimeSpan.FromSeconds(60));
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
    }
}
