using System.Collections.Concurrent;
using System.Diagnostics;
using Audit.Api.Infrastructure.Telemetry;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests.LiveProgress;

public sealed class TracingTests
{
    [Fact]
    public async Task AnAudit_IsTracedPerMediatorMessageAndPerProbe_WithAuditProbeAndDevice()
    {
        // Activity listeners see every test's spans: only those of this test's audit (or its requests) are kept.
        var spans = new ConcurrentBag<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == AuditTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Add,
        };
        ActivitySource.AddActivityListener(listener);
        using var factory = new AuditApiFactory();
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);

        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        await client.WaitForAuditAsync(id);

        Activity probe = Assert.Single(spans, s => s.DisplayName == "probe model-inventory" && (string?)s.GetTagItem("audit.id") == id);
        Assert.Equal("model-inventory", probe.GetTagItem("audit.probe"));
        Assert.Equal("cpu", probe.GetTagItem("audit.device"));
        Assert.Equal("inventory", probe.GetTagItem("audit.control"));
        Assert.Equal("acme", probe.GetTagItem("audit.tenant"));
        Assert.Contains(spans, s => s.DisplayName == "SubmitAudit");
        Assert.Contains(spans, s => s.DisplayName == "GetAudit");
    }
}
