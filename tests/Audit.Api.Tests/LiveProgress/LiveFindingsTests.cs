using System.Net;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.LiveProgress;

/// <summary>
/// Findings are stored and announced as each probe finishes, not when the audit ends: the second of four probes is
/// held back until the test has seen the first probe's finding on the event stream and in the audit.
/// </summary>
public sealed class LiveFindingsTests
{
    [Fact]
    public async Task FindingEvents_ArriveWhileLaterProbesRun_InProbeOrder_BeforeTheFinalStatus()
    {
        var secondProbe = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int runs = 0;
        using var factory = new AuditApiFactory(
            settings: new Dictionary<string, string?>
            {
                ["Audit:EventsPollInterval"] = "00:00:00.100",
                ["Audit:Webhooks:AllowLoopbackHttp"] = "true",
                // Deliveries are only logged here; sending them has its own tests.
                ["Audit:Webhooks:DeliveryEnabled"] = "false",
            },
            services: services =>
            {
                foreach (ServiceDescriptor real in services.Where(d => d.ServiceType == typeof(IProbe) && d.ImplementationType == typeof(ModelInventoryProbe)).ToList())
                {
                    services.Remove(real);
                }

                services.AddSingleton<IProbe>(new ScriptedProbe(new ModelInventoryProbe().Descriptor, async (_, cancellationToken) =>
                {
                    int run = Interlocked.Increment(ref runs);
                    if (run == 2)
                    {
                        await secondProbe.Task.WaitAsync(cancellationToken);
                    }

                    return new ProbeOutcome(run == 4 ? Verdict.Fail : Verdict.Pass, run, $"run {run}", new JsonObject(), []);
                }));
            });
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpResponseMessage hook = await client.PostAsJsonAsync("/api/v1/webhooks", new { url = "http://127.0.0.1:9/hook", events = new[] { "audit.finding" } });
        Assert.Equal(HttpStatusCode.Created, hook.StatusCode);
        string hookId = (await hook.JsonAsync())["id"]!.GetValue<string>();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/api/v1/profiles", ThreeProbeProfile())).StatusCode);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "three-steps" })).JsonAsync())["id"]!.GetValue<string>();

        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        using HttpResponseMessage response = await client.GetAsync($"/api/v1/audits/{id}/events", HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        var events = new List<(string Type, JsonNode Data)>();
        JsonNode? duringRun = null;
        await foreach (SseItem<string> item in SseParser.Create(await response.Content.ReadAsStreamAsync(timeout.Token)).EnumerateAsync(timeout.Token))
        {
            events.Add((item.EventType, JsonNode.Parse(item.Data)!));
            if (item.EventType == "finding" && duringRun is null)
            {
                // The second probe is still held: what the audit shows now is what a client sees mid-run.
                duringRun = await (await client.GetAsync($"/api/v1/audits/{id}", timeout.Token)).JsonAsync();
            }

            // Released only once the held probe's step has been announced too: the stream polls, so releasing at the
            // first finding let the whole rest of the audit finish between two polls and the step was never seen.
            bool heldStepSeen = events.Exists(e => e.Type == "step" && e.Data["currentStep"]!.GetValue<string>().Contains("(second)", StringComparison.Ordinal));
            if (duringRun is not null && heldStepSeen)
            {
                secondProbe.TrySetResult();
            }
        }

        Assert.NotNull(duringRun);
        Assert.Equal("running", duringRun["status"]!.GetValue<string>());
        Assert.Equal(["first"], duringRun["findings"]!.AsArray().Select(f => f!["controlId"]!.GetValue<string>()));

        List<int> findings = [.. events.Select((e, i) => (e, i)).Where(x => x.e.Type == "finding").Select(x => x.i)];
        Assert.Equal(["first", "second", "second", "third"], findings.Select(i => events[i].Data["controlId"]!.GetValue<string>()));
        Assert.Equal(["run 1", "run 2", "run 3", "run 4"], findings.Select(i => events[i].Data["summary"]!.GetValue<string>()));
        // The supporting probe's finding is marked so live, as GET /audits/{id} marks it afterwards.
        Assert.Equal(["verdict", "verdict", "supporting", "verdict"], findings.Select(i => events[i].Data["role"]!.GetValue<string>()));
        (string lastType, JsonNode last) = events[^1];
        Assert.Equal("status", lastType);
        Assert.Equal("succeeded", last["status"]!.GetValue<string>());
        Assert.Equal("fail", last["verdict"]!.GetValue<string>());
        Assert.True(findings[^1] < events.Count - 1);
        // The first finding was announced before the step of the probe that was held back.
        int secondStep = events.FindIndex(e => e.Type == "step" && e.Data["currentStep"]!.GetValue<string>().Contains("(second)", StringComparison.Ordinal));
        Assert.True(findings[0] < secondStep, string.Join(", ", events.Select(e => e.Type)));

        // The stored results after the end are the same three, once each, and each finding was queued for the webhook.
        JsonNode done = await (await client.GetAsync($"/api/v1/audits/{id}")).JsonAsync();
        Assert.Equal(["first", "second", "second", "third"], done["findings"]!.AsArray().Select(f => f!["controlId"]!.GetValue<string>()));
        Assert.Equal(["verdict", "verdict", "supporting", "verdict"], done["findings"]!.AsArray().Select(f => f!["role"]!.GetValue<string>()));
        JsonArray deliveries = (await (await client.GetAsync($"/api/v1/webhooks/{hookId}/deliveries")).JsonAsync()).AsArray();
        Assert.Equal(4, deliveries.Count(d => d!["eventType"]!.GetValue<string>() == "audit.finding"));
    }

    private static object ThreeProbeProfile() => new
    {
        id = "three-steps",
        version = "1.0.0",
        title = "Four probes in turn",
        regulation = "none",
        description = "Three controls of one probe each, and a supporting second probe in the second.",
        controls = new[] { "first", "second", "third" }.Select(control => new
        {
            id = control,
            clause = control,
            title = control,
            probes = new[]
            {
                new { probe = "model-inventory", parameters = new { }, threshold = 1, role = "verdict" },
                new { probe = "model-inventory", parameters = new { }, threshold = 1, role = "supporting" },
            }.Take(control == "second" ? 2 : 1),
            evidence = Array.Empty<string>(),
            combine = "any-fail",
        }),
    };

    private sealed class ScriptedProbe(ProbeDescriptor descriptor, Func<ProbeContext, CancellationToken, Task<ProbeOutcome>> run) : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = descriptor;

        public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) => run(context, cancellationToken);
    }
}
