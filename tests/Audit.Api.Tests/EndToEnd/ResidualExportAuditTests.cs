using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Evaluators.Tests.Fixtures;
using UglyToad.PdfPig;
using Xunit.Abstractions;

namespace Audit.Api.Tests.EndToEnd;

/// <summary>
/// A full audit through the service of the model shape issue 12 met in the wild: a 43-class 3×32×32 ResNet-style CNN
/// exported at opset 11 with unfused BatchNormalization (<see cref="TintedFashionFixtures"/>, trained from a fixed
/// seed on tinted Fashion-MNIST with a planted patch backdoor). Upload, audit with the four trojan probes, findings,
/// signed PDF report.
/// </summary>
/// <remarks>
/// The audit runs a custom profile: the trojan-scan controls with a reduced scan budget (150 steps instead of 400, one
/// start instead of two, 150 distillation steps instead of 300, 8 inputs per step instead of 16), to bound CI's time
/// with no fixture cache; the built-in profile's full budget on this model is measured in docs/benchmarks.md. The
/// budget was not cut further because it stops finding the trigger: at 100 steps and 100 distillation steps the scan
/// named class 6 (index 2.12) instead of 17 (2026-11-30); at 150 it names 17 with index 4.4. That held on an Intel
/// Xeon only: on an AMD EPYC (2026-12-01, the fixture trained again from its seed there) the same budget named class
/// 23 at index 1.68 and passed the model. Whether Neural Cleanse catches one fixture is a coin its held-out rate
/// (about two in three, docs/probes.md) sets, not a property of this export, so the verdict is logged, not asserted;
/// what the test asserts is that a model of this shape is measured end to end, every class of it.
/// </remarks>
[Collection(FixtureModels.Collection)]
public sealed class ResidualExportAuditTests(ITestOutputHelper output) : IDisposable
{
    private readonly AuditApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    /// <summary>The trojan-scan profile's controls, with the same reduced scan parameters on every probe (they share one scan).</summary>
    private static JsonObject ReducedTrojanScan()
    {
        JsonObject Scan() => new() { ["maxSteps"] = 150, ["restarts"] = 1, ["samplesPerClass"] = 8, ["referenceSteps"] = 150 };
        JsonObject Control(string id, string clause, string probe, double? threshold = null)
        {
            var invocation = new JsonObject { ["probe"] = probe, ["parameters"] = probe == "model-inventory" ? new JsonObject() : Scan() };
            if (threshold is { } t)
            {
                invocation["threshold"] = t;
            }

            return new JsonObject
            {
                ["id"] = id,
                ["clause"] = clause,
                ["title"] = id,
                ["probes"] = new JsonArray { invocation },
                ["evidence"] = probe == "model-inventory" ? new JsonArray() : new JsonArray { "dataset" },
                ["combine"] = "any-fail",
            };
        }

        return new JsonObject
        {
            ["id"] = "trojan-scan-reduced",
            ["version"] = "1.0.0",
            ["title"] = "Trojan scan, reduced budget",
            ["regulation"] = "Internal test policy",
            ["controls"] = new JsonArray
            {
                Control("inventory", "Model is executable", "model-inventory", 1),
                Control("trigger-reverse-engineering", "Neural Cleanse", "neural-cleanse", 2),
                Control("input-perturbation-entropy", "STRIP", "strip"),
                Control("activation-clustering", "Activation clustering", "activation-clustering"),
                Control("spectral-signatures", "Spectral signatures", "spectral-signatures"),
            },
        };
    }

    private static string Summaries(JsonNode audit) => string.Join("\n", audit["findings"]!.AsArray().Select(f =>
        $"{f!["controlId"]} {f["probe"]} {f["verdict"]} {f["score"]}: {f["summary"]}"));

    private static JsonNode Finding(JsonNode audit, string probe) =>
        audit["findings"]!.AsArray().First(f => f!["probe"]!.GetValue<string>() == probe)!;

    [Fact]
    public async Task TrojanScan_OfA43ClassResNetWithUnfusedBatchNorm_MeasuresEveryClassEndToEnd()
    {
        var clock = Stopwatch.StartNew();
        TrainedTintedFixture fixture = TintedFashionFixtures.Get(TintedFashionFixtures.BadNets);
        string datasetPath = TintedFashionFixtures.CleanDataset(500);
        double fixtureSeconds = clock.Elapsed.TotalSeconds;
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/api/v1/profiles", ReducedTrojanScan())).StatusCode);

        HttpResponseMessage uploaded = await client.UploadAsync(await File.ReadAllBytesAsync(fixture.OnnxPath), "model");
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        JsonNode model = await uploaded.JsonAsync();
        string dataset = await client.UploadIdAsync(await File.ReadAllBytesAsync(datasetPath), "dataset", Path.GetFileName(datasetPath));
        HttpResponseMessage submitted = await client.SubmitAsync(new { modelArtifactId = model["id"]!.GetValue<string>(), datasetArtifactId = dataset, profileId = "trojan-scan-reduced" });
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        // A bound, not a budget (the shared machine's load decides the wall time; see the class remarks for the aim).
        JsonNode audit = await client.WaitForAuditAsync((await submitted.JsonAsync())["id"]!.GetValue<string>(), TimeSpan.FromMinutes(30));
        Assert.True(audit["status"]!.GetValue<string>() == "succeeded", audit.ToJsonString());
        output.WriteLine($"fixture {fixtureSeconds:F1} s (trained in {fixture.TrainSeconds:F1} s, {fixture.TrainCpuSeconds:F1} CPU-s, when not cached), whole test {clock.Elapsed.TotalSeconds:F1} s\n{Summaries(audit)}");

        // The upload ran the graph: 43 classes read off the logits, the nine unfused batch norms executed.
        JsonNode summary = model["summary"]!;
        JsonNode detected = summary["interface"]!;
        Assert.True(summary["executable"]!.GetValue<bool>(), summary.ToJsonString());
        Assert.Equal(("image-classifier", "NCHW", 3, 32, 32, 43), (detected["kind"]!.GetValue<string>(), detected["layout"]!.GetValue<string>(),
            detected["channels"]!.GetValue<int>(), detected["height"]!.GetValue<int>(), detected["width"]!.GetValue<int>(), detected["classes"]!.GetValue<int>()));
        Assert.Equal(9, summary["operatorCounts"]!["BatchNormalization"]!.GetValue<int>());
        Assert.Equal(3, summary["operatorCounts"]!["Add"]!.GetValue<int>());

        // Every probe measured the model, Neural Cleanse every one of the 43 classes on the model and on its reference,
        // and the trigger tests ran on the class it suspects; the audit's verdict follows Neural Cleanse's.
        Assert.All(audit["findings"]!.AsArray(), f => Assert.True(f!["verdict"]!.GetValue<string>() != "inconclusive", Summaries(audit)));
        Assert.Equal("pass", Finding(audit, "model-inventory")["verdict"]!.GetValue<string>());
        JsonNode cleanse = Finding(audit, "neural-cleanse");
        JsonNode found = cleanse["details"]!;
        output.WriteLine($"neural-cleanse: {cleanse["verdict"]} index {found["anomalyIndex"]} class {found["suspectedTargetClass"]} (planted {TintedFashionFixtures.BadNets.TargetClass}), uncalibrated {found["uncalibratedAnomalyIndex"]}, norms {found["maskNorms"]!.ToJsonString()}");
        Assert.Equal(43, found["maskNorms"]!.AsArray().Count);
        Assert.Equal(43, found["referenceMaskNorms"]!.AsArray().Count);
        Assert.All(found["maskNorms"]!.AsArray(), n => Assert.True(n!.GetValue<double>() > 0, found["maskNorms"]!.ToJsonString()));
        int suspected = found["suspectedTargetClass"]!.GetValue<int>();
        Assert.InRange(suspected, 0, 42);
        Assert.Equal(suspected, Finding(audit, "strip")["details"]!["suspectedTargetClass"]!.GetValue<int>());
        Assert.Equal(cleanse["verdict"]!.GetValue<string>(), audit["verdict"]!.GetValue<string>());

        HttpResponseMessage report = await client.GetAsync($"/api/v1/audits/{audit["id"]!.GetValue<string>()}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Equal("application/pdf", report.Content.Headers.ContentType?.MediaType);
        using PdfDocument document = PdfDocument.Open(await report.Content.ReadAsByteArrayAsync());
        string text = string.Join("\n", document.GetPages().Select(p => p.Text));
        Assert.Contains("trojan-scan-reduced", text, StringComparison.Ordinal);
        Assert.Contains("neural-cleanse", text, StringComparison.Ordinal);
    }
}
