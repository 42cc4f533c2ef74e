using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests;

public abstract class ProfilesTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false, database: database);

    public void Dispose() => _factory.Dispose();

    private static JsonObject ValidProfile(string id = "acme-inventory", string version = "1.0.0") => new()
    {
        ["id"] = id,
        ["version"] = version,
        ["title"] = "Acme inventory",
        ["regulation"] = "Internal policy 7",
        ["controls"] = new JsonArray
        {
            new JsonObject
            {
                ["id"] = "inventory",
                ["clause"] = "Policy 7.1: models must be executable",
                ["title"] = "Executable model",
                ["probes"] = new JsonArray { new JsonObject { ["probe"] = "model-inventory", ["parameters"] = new JsonObject { ["maxParameters"] = 1000 }, ["threshold"] = 1 } },
                ["evidence"] = new JsonArray(),
                ["combine"] = "any-fail",
            },
        },
    };

    [DatabaseFact]
    public async Task List_ShowsBuiltInProfilesToEveryRole()
    {
        foreach (string key in new[] { AuditApiFactory.AcmeCompliance, AuditApiFactory.AcmeAuditor, AuditApiFactory.Regulator, AuditApiFactory.Admin })
        {
            JsonArray profiles = (await (await _factory.ClientFor(key).GetAsync("/api/v1/profiles")).JsonAsync()).AsArray();
            Assert.Contains(profiles, p => p!["id"]!.GetValue<string>() == "trojan-scan" && p["builtIn"]!.GetValue<bool>());
        }
    }

    [DatabaseFact]
    public async Task Get_UnknownProfile_Returns404Problem()
    {
        await (await _factory.ClientFor(AuditApiFactory.AcmeCompliance).GetAsync("/api/v1/profiles/nope")).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [DatabaseFact]
    public async Task Create_JsonProfile_IsStoredTenantScopedWithContentHash()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage created = await acme.PostAsJsonAsync("/api/v1/profiles", ValidProfile());

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        JsonNode body = await created.JsonAsync();
        Assert.StartsWith("sha256:", body["contentHash"]!.GetValue<string>(), StringComparison.Ordinal);
        JsonNode fetched = await (await acme.GetAsync("/api/v1/profiles/acme-inventory")).JsonAsync();
        Assert.Equal(body["contentHash"]!.GetValue<string>(), fetched["contentHash"]!.GetValue<string>());
        Assert.Equal(1000, fetched["controls"]![0]!["probes"]![0]!["parameters"]!["maxParameters"]!.GetValue<int>());
        await (await _factory.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync("/api/v1/profiles/acme-inventory")).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [DatabaseFact]
    public async Task Create_YamlProfile_MirrorsJson()
    {
        const string yaml = """
            id: acme-yaml
            version: 2.1.0
            title: From YAML
            regulation: Internal policy 8
            controls:
              - id: inventory
                clause: "Policy 8.1"
                title: Executable model
                probes:
                  - probe: model-inventory
                    parameters: { maxParameters: 5000 }
                    threshold: 1
                evidence: []
                combine: majority
            """;
        using var content = new StringContent(yaml, Encoding.UTF8, "application/yaml");

        HttpResponseMessage created = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsync("/api/v1/profiles", content);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        JsonNode body = await created.JsonAsync();
        Assert.Equal("2.1.0", body["version"]!.GetValue<string>());
        Assert.Equal("majority", body["controls"]![0]!["combine"]!.GetValue<string>());
        Assert.Equal(5000, body["controls"]![0]!["probes"]![0]!["parameters"]!["maxParameters"]!.GetValue<int>());
    }

    [DatabaseFact]
    public async Task Create_SameVersionTwice_Returns409AndNewVersionIsListed()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        await acme.PostAsJsonAsync("/api/v1/profiles", ValidProfile());
        JsonObject changed = ValidProfile();
        changed["title"] = "Changed";

        await (await acme.PostAsJsonAsync("/api/v1/profiles", changed)).AssertProblemAsync(HttpStatusCode.Conflict);

        changed["version"] = "1.1.0";
        Assert.Equal(HttpStatusCode.Created, (await acme.PostAsJsonAsync("/api/v1/profiles", changed)).StatusCode);
        JsonArray versions = (await (await acme.GetAsync("/api/v1/profiles/acme-inventory/versions")).JsonAsync()).AsArray();
        Assert.Equal(new[] { "1.1.0", "1.0.0" }, versions.Select(v => v!["version"]!.GetValue<string>()));
        Assert.Equal("Changed", (await (await acme.GetAsync("/api/v1/profiles/acme-inventory")).JsonAsync())["title"]!.GetValue<string>());
        Assert.Equal("Acme inventory", (await (await acme.GetAsync("/api/v1/profiles/acme-inventory?version=1.0.0")).JsonAsync())["title"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Create_ByAuditor_Returns403()
    {
        await (await _factory.ClientFor(AuditApiFactory.AcmeAuditor).PostAsJsonAsync("/api/v1/profiles", ValidProfile()))
            .AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    public static TheoryData<string, string> InvalidProfiles => new()
    {
        { """{"controls":[{"probes":[{"probe":"no-such-probe"}]}]}""", "controls[0].probes[0].probe" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","parameters":{"maxParameters":0}}]}]}""", "controls[0].probes[0].parameters.maxParameters" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","parameters":{"unknown":1}}]}]}""", "controls[0].probes[0].parameters.unknown" },
        // trojan-likelihood's calibration and stated error rates hold only at the scan settings its fit was surveyed at.
        { """{"controls":[{"probes":[{"probe":"trojan-likelihood","parameters":{"maxSteps":200}}]}]}""", "controls[0].probes[0].parameters.maxSteps" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","threshold":"high"}]}]}""", "controls[0].probes[0].threshold" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","threshold":-1}]}]}""", "controls[0].probes[0].threshold" },
        { """{"controls":[{"combine":"sometimes"}]}""", "controls[0].combine" },
        { """{"controls":[{"evidence":["crystal-ball"]}]}""", "controls[0].evidence[0]" },
        { """{"version":"one"}""", "version" },
        { """{"id":"Not Kebab"}""", "id" },
        { """{"id":"trojan-scan"}""", "id" },
        { """{"controls":[]}""", "controls" },
        { """{"controls":[{"role":"advisory"}]}""", "controls[0].role" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","role":"maybe"}]}]}""", "controls[0].probes[0].role" },
        { """{"controls":[{"probes":[{"probe":"model-inventory","role":"supporting"}]}]}""", "controls[0].probes" },
        { """{"controls":[{"role":"supporting"}]}""", "controls" },
    };

    [DatabaseTheory]
    [MemberData(nameof(InvalidProfiles))]
    public async Task Create_InvalidProfile_ReturnsFieldLevelProblem(string patch, string field)
    {
        JsonObject profile = ValidProfile();
        Merge(profile, JsonNode.Parse(patch)!.AsObject());

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsJsonAsync("/api/v1/profiles", profile);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, field);
    }

    [DatabaseFact]
    public async Task Create_DuplicateControlIds_ReturnsFieldLevelProblem()
    {
        JsonObject profile = ValidProfile();
        profile["controls"]!.AsArray().Add(profile["controls"]![0]!.DeepClone());

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsJsonAsync("/api/v1/profiles", profile);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "controls");
    }

    [DatabaseFact]
    public async Task Create_BodyOfWrongShape_Returns400NotServerError()
    {
        using var content = new StringContent("""{"id":"x","controls":"not-a-list"}""", Encoding.UTF8, "application/json");

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsync("/api/v1/profiles", content);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [DatabaseFact]
    public async Task Create_MalformedYaml_Returns400()
    {
        using var content = new StringContent("id: [unclosed", Encoding.UTF8, "application/yaml");

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).PostAsync("/api/v1/profiles", content);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
    }

    [DatabaseFact]
    public async Task Submit_AgainstCustomProfile_RecordsExactVersionAndHash()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        JsonNode profile = await (await acme.PostAsJsonAsync("/api/v1/profiles", ValidProfile())).JsonAsync();
        JsonObject next = ValidProfile(version: "1.0.1");
        await acme.PostAsJsonAsync("/api/v1/profiles", next);
        string model = await acme.UploadIdAsync(TestModels.Conv2d, "model");

        JsonNode audit = await (await acme.SubmitAsync(new { modelArtifactId = model, profileId = "acme-inventory", profileVersion = "1.0.0" })).JsonAsync();

        Assert.Equal("1.0.0", audit["profile"]!["version"]!.GetValue<string>());
        Assert.Equal(profile["contentHash"]!.GetValue<string>(), audit["profile"]!["contentHash"]!.GetValue<string>());
    }

    /// <summary>Overlays a patch onto the valid profile, element by element into arrays of objects.</summary>
    private static void Merge(JsonObject target, JsonObject patch)
    {
        foreach ((string key, JsonNode? value) in patch.ToList())
        {
            if (value is JsonObject obj && target[key] is JsonObject existing)
            {
                Merge(existing, obj);
            }
            else if (value is JsonArray array && target[key] is JsonArray existingArray && array.Count > 0 && array.All(a => a is JsonObject))
            {
                for (int i = 0; i < array.Count; i++)
                {
                    Merge(existingArray[i]!.AsObject(), array[i]!.AsObject());
                }
            }
            else
            {
                target[key] = value?.DeepClone();
            }
        }
    }
}

public sealed class ProfilesTestsOnSqlite() : ProfilesTests(DatabaseProvider.Sqlite);

public sealed class ProfilesTestsOnPostgres() : ProfilesTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;

public sealed class BuiltInProfileCatalogTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public void BuiltInProfiles_PassTheSameValidationAsCustomOnes()
    {
        var catalog = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<Audit.Evaluators.Probes.ProbeCatalog>(_factory.Services);
        var validator = new Audit.Api.Features.Profiles.ProfileDraftValidator(catalog);
        foreach (Audit.Domain.Profiles.Profile profile in Audit.Domain.Profiles.BuiltInProfiles.All)
        {
            string json = System.Text.Json.JsonSerializer.Serialize(profile, Audit.Domain.Profiles.ProfileHash.CanonicalJson);
            var draft = System.Text.Json.JsonSerializer.Deserialize<Audit.Api.Features.Profiles.ProfileDraft>(json, System.Text.Json.JsonSerializerOptions.Web)!;

            FluentValidation.Results.ValidationResult result = validator.Validate(draft);

            Assert.True(result.IsValid, $"{profile.Id}: {string.Join("; ", result.Errors)}");
        }
    }

    [Theory]
    [InlineData("eu-ai-act-art15")]
    [InlineData("nist-ai-rmf-measure")]
    [InlineData("eu-gpai-systemic-deception")]
    [InlineData("trojan-scan")]
    public async Task BuiltInProfile_IsServedWithRegulationClausesAndHash(string id)
    {
        JsonNode profile = await (await _factory.ClientFor(AuditApiFactory.Regulator).GetAsync($"/api/v1/profiles/{id}")).JsonAsync();

        Assert.Equal(id, profile["id"]!.GetValue<string>());
        Assert.True(profile["builtIn"]!.GetValue<bool>());
        Assert.All(profile["controls"]!.AsArray(), c => Assert.False(string.IsNullOrWhiteSpace(c!["clause"]!.GetValue<string>())));
        Assert.Matches("^sha256:[0-9a-f]{64}$", profile["contentHash"]!.GetValue<string>());
    }
}
