using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests;

/// <summary>
/// Supporting controls and probes through the API: a profile marks them with <c>role: supporting</c>, the audit
/// records and returns their findings with that role, and they never change a verdict. The model inventory gives a
/// real failing finding in milliseconds: a declared maximum of one parameter fails any model.
/// </summary>
public sealed class SupportingEvidenceTests : IDisposable
{
    private readonly AuditApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private static JsonObject Inventory(long maxParameters, string? role = null)
    {
        var probe = new JsonObject { ["probe"] = "model-inventory", ["parameters"] = new JsonObject { ["maxParameters"] = maxParameters }, ["threshold"] = 1 };
        if (role is not null)
        {
            probe["role"] = role;
        }

        return probe;
    }

    [Fact]
    public async Task SupportingFindings_AreReportedWithTheirRole_AndNeverDecideTheVerdict()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        var profile = new JsonObject
        {
            ["id"] = "acme-supporting",
            ["version"] = "1.0.0",
            ["title"] = "Supporting evidence",
            ["regulation"] = "Internal policy 9",
            ["controls"] = new JsonArray
            {
                new JsonObject
                {
                    ["id"] = "inventory", ["clause"] = "9.1", ["title"] = "Executable",
                    ["probes"] = new JsonArray { Inventory(1_000_000_000), Inventory(1, "supporting") },
                    ["evidence"] = new JsonArray(), ["combine"] = "any-fail",
                },
                new JsonObject
                {
                    ["id"] = "tiny", ["clause"] = "9.2", ["title"] = "At most one parameter",
                    ["probes"] = new JsonArray { Inventory(1) },
                    ["evidence"] = new JsonArray(), ["combine"] = "any-fail", ["role"] = "supporting",
                },
            },
        };
        HttpResponseMessage created = await acme.PostAsJsonAsync("/api/v1/profiles", profile);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        JsonNode stored = await (await acme.GetAsync("/api/v1/profiles/acme-supporting")).JsonAsync();
        Assert.Equal("supporting", stored["controls"]![0]!["probes"]![1]!["role"]!.GetValue<string>());
        Assert.Equal("supporting", stored["controls"]![1]!["role"]!.GetValue<string>());
        string model = await acme.UploadIdAsync(TestModels.Conv2d, "model");

        string id = (await (await acme.SubmitAsync(new { modelArtifactId = model, profileId = "acme-supporting" })).JsonAsync())["id"]!.GetValue<string>();
        JsonNode audit = await acme.WaitForAuditAsync(id);

        Assert.Equal("pass", audit["verdict"]!.GetValue<string>());
        JsonArray controls = audit["controls"]!.AsArray();
        JsonNode inventory = controls.Single(c => c!["controlId"]!.GetValue<string>() == "inventory")!;
        JsonNode tiny = controls.Single(c => c!["controlId"]!.GetValue<string>() == "tiny")!;
        Assert.Equal(("pass", "verdict"), (inventory["verdict"]!.GetValue<string>(), inventory["role"]!.GetValue<string>()));
        Assert.Contains("Supporting evidence, not counted in the verdict: [model-inventory] fail.", inventory["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(("fail", "supporting"), (tiny["verdict"]!.GetValue<string>(), tiny["role"]!.GetValue<string>()));
        Assert.Equal(
            [("inventory", "pass", "verdict"), ("inventory", "fail", "supporting"), ("tiny", "fail", "verdict")],
            audit["findings"]!.AsArray().Select(f => (f!["controlId"]!.GetValue<string>(), f["verdict"]!.GetValue<string>(), f["role"]!.GetValue<string>())));
    }
}
