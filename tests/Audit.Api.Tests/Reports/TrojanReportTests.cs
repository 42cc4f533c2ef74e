using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;
using Audit.Evaluators.Tests.Fixtures;
using UglyToad.PdfPig;

namespace Audit.Api.Tests.Reports;

/// <summary>
/// A model trained with a BadNets backdoor (fixed seed, real Fashion-MNIST, cached under .fixture-cache like the
/// evaluator tests) audited through the API: the signed report must carry the recovered trigger images and the
/// probes' charts, and still verify. The profile is trojan-scan's Neural Cleanse and STRIP controls (STRIP with fewer
/// probe inputs), which share one trigger reverse-engineering run.
/// </summary>
public sealed class TrojanReportTests : IDisposable
{
    private readonly AuditApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task BackdooredModel_YieldsASignedFailReport_WithTriggerImagesAndCharts()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(File.ReadAllBytes(fixture.OnnxPath), "model", "badnets.onnx");
        string dataset = await client.UploadIdAsync(File.ReadAllBytes(TrojanFixtures.CleanDataset(normalised: false)), "dataset", "fmnist-test.safetensors");
        HttpResponseMessage created = await client.PostAsJsonAsync("/api/v1/profiles", new
        {
            id = "trojan-report-test",
            version = "1.0.0",
            title = "Trojan scan: Neural Cleanse and STRIP",
            regulation = "Test: no regulatory mapping",
            controls = new object[]
            {
                new
                {
                    id = "trigger-reverse-engineering", clause = "Backdoor detection by trigger reverse-engineering", title = "No anomalously small trigger",
                    probes = new[] { new { probe = "neural-cleanse", parameters = (object)new { }, threshold = 2.0 } }, evidence = new[] { "dataset" }, combine = "any-fail",
                },
                new
                {
                    id = "input-perturbation-entropy", clause = "Backdoor detection by input superimposition", title = "Stamped inputs not abnormally stable",
                    probes = new[] { new { probe = "strip", parameters = (object)new { probeInputs = 100, overlays = 8 }, threshold = 0.5 } },
                    evidence = new[] { "dataset" }, combine = "any-fail",
                },
            },
        });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = dataset, profileId = "trojan-report-test" })).JsonAsync())["id"]!.GetValue<string>();

        JsonNode done = await client.WaitForAuditAsync(id, TimeSpan.FromMinutes(10));
        Assert.True(done["status"]!.GetValue<string>() == "succeeded", done.ToJsonString());
        HttpResponseMessage response = await client.GetAsync($"/api/v1/audits/{id}/report");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        byte[] pdf = await response.Content.ReadAsByteArrayAsync();

        using (var document = PdfDocument.Open(pdf))
        {
            string text = string.Join("\n", document.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))));
            Assert.Contains("Overall verdict: FAIL", text);
            Assert.Contains("neural-cleanse", text);
            Assert.Contains("Wang et al., Neural Cleanse", text);
            Assert.Contains("Recovered trigger mask for class 3", text);
            // The chart marks the class the calibrated finding flags (the BadNets target), and no other.
            Assert.Contains("Flagged (drawn in red): class 3.", text);
            // Three trigger images from Neural Cleanse, its mask-norm chart and STRIP's entropy histogram at least.
            Assert.True(document.GetPages().Sum(p => p.GetImages().Count()) >= 5);
        }

        using var files = new TempDirectory();
        File.WriteAllBytes(files.File("trojan.pdf"), pdf);
        Assert.Contains("Signature is Valid.", Tools.Run("pdfsig", files.File("trojan.pdf")).Output);
        var (qpdfExit, qpdf) = Tools.Run("qpdf", "--check", files.File("trojan.pdf"));
        Assert.True(qpdfExit == 0, qpdf);
    }
}
