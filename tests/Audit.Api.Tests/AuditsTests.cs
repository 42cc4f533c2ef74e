using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests;

public abstract class AuditsTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task Submit_WithoutRequiredDataset_SucceedsInconclusiveNamingTheMissingEvidence()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        JsonNode queued = await response.JsonAsync();
        Assert.Equal("queued", queued["status"]!.GetValue<string>());
        string id = queued["id"]!.GetValue<string>();
        Assert.EndsWith($"/api/v1/audits/{id}", response.Headers.Location!.ToString(), StringComparison.Ordinal);

        JsonNode done = await client.WaitForAuditAsync(id);
        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        Assert.Equal(1.0, done["progress"]!.GetValue<double>());
        Assert.Equal("cpu", done["device"]!.GetValue<string>());
        Assert.NotNull(done["finishedAt"]);
        Assert.StartsWith("sha256:", done["profile"]!["contentHash"]!.GetValue<string>(), StringComparison.Ordinal);

        // The inventory ran and passed; every control that needs a dataset is inconclusive, so the audit never passes.
        JsonNode inventory = Assert.Single(done["findings"]!.AsArray())!;
        Assert.Equal("model-inventory", inventory["probe"]!.GetValue<string>());
        Assert.Equal("pass", inventory["verdict"]!.GetValue<string>());
        Assert.Equal(0, inventory["score"]!.GetValue<double>());
        Assert.Equal(1, inventory["details"]!["inventory"]!["operatorCounts"]!["Conv"]!.GetValue<int>());
        JsonArray controls = done["controls"]!.AsArray();
        Assert.Equal("pass", controls.Single(c => c!["controlId"]!.GetValue<string>() == "inventory")!["verdict"]!.GetValue<string>());
        JsonNode backdoor = controls.Single(c => c!["controlId"]!.GetValue<string>() == "trigger-reverse-engineering")!;
        Assert.Equal("inconclusive", backdoor["verdict"]!.GetValue<string>());
        Assert.Contains("dataset", backdoor["reason"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("inconclusive", done["verdict"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Submit_ModelWithUnsupportedOperators_FailsWithClearReason()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Lstm, "model");

        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        JsonNode done = await client.WaitForAuditAsync(id);

        Assert.Equal("failed", done["status"]!.GetValue<string>());
        Assert.Contains("LSTM", done["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Null(done["verdict"]);
    }

    [DatabaseFact]
    public async Task Submit_WithUnknownProfile_ReturnsValidationProblem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, profileId = "no-such-profile" });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "profileId");
    }

    [DatabaseFact]
    public async Task Submit_WithUnknownProfileVersion_ReturnsValidationProblem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan", profileVersion = "9.9.9" });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "profileVersion");
    }

    [DatabaseFact]
    public async Task Submit_WithMissingFields_ReturnsFieldErrors()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).SubmitAsync(new { });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "modelArtifactId");
    }

    [DatabaseFact]
    public async Task Submit_WithAnotherTenantsModel_ReturnsValidationProblem()
    {
        string model = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.GlobexCompliance)
            .SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "modelArtifactId");
    }

    [DatabaseFact]
    public async Task Submit_WithDatasetIdOfAModel_ReturnsValidationProblem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = model, profileId = "trojan-scan" });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "datasetArtifactId");
    }

    [DatabaseFact]
    public async Task Submit_RetriedWithSameIdempotencyKey_ReturnsSameAudit()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        var body = new { modelArtifactId = model, profileId = "trojan-scan" };

        JsonNode first = await (await client.SubmitAsync(body, "retry-me")).JsonAsync();
        HttpResponseMessage retry = await client.SubmitAsync(body, "retry-me");

        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(first["id"]!.GetValue<string>(), (await retry.JsonAsync())["id"]!.GetValue<string>());
        JsonNode list = await (await client.GetAsync("/api/v1/audits")).JsonAsync();
        Assert.Equal(1, list["total"]!.GetValue<int>());
    }

    [DatabaseFact]
    public async Task Submit_SameIdempotencyKeyForDifferentRequest_Returns409()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" }, "key-1");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan", profileVersion = "1.0.0" }, "key-1");

        await response.AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [DatabaseFact]
    public async Task IdempotencyKeys_AreScopedToTheTenant()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpClient globex = _factory.ClientFor(AuditApiFactory.GlobexCompliance);
        string acmeModel = await acme.UploadIdAsync(TestModels.Conv2d, "model");
        string globexModel = await globex.UploadIdAsync(TestModels.Conv2d, "model");

        JsonNode a = await (await acme.SubmitAsync(new { modelArtifactId = acmeModel, profileId = "trojan-scan" }, "shared-key")).JsonAsync();
        HttpResponseMessage b = await globex.SubmitAsync(new { modelArtifactId = globexModel, profileId = "trojan-scan" }, "shared-key");

        Assert.Equal(HttpStatusCode.Accepted, b.StatusCode);
        Assert.NotEqual(a["id"]!.GetValue<string>(), (await b.JsonAsync())["id"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Audits_OfAnotherTenant_AreInvisible()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpClient globex = _factory.ClientFor(AuditApiFactory.GlobexCompliance);
        string model = await acme.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await acme.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        await (await globex.GetAsync($"/api/v1/audits/{id}")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await globex.GetAsync($"/api/v1/audits/{id}/report")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await globex.PostAsync($"/api/v1/audits/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(0, (await (await globex.GetAsync("/api/v1/audits")).JsonAsync())["total"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, (await _factory.ClientFor(AuditApiFactory.AcmeAuditor).GetAsync($"/api/v1/audits/{id}")).StatusCode);
    }

    [DatabaseFact]
    public async Task List_FiltersByStatusAndPages()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Lstm, "model");
        for (int i = 0; i < 3; i++)
        {
            string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
            await client.WaitForAuditAsync(id);
        }

        JsonNode page = await (await client.GetAsync("/api/v1/audits?status=failed&page=2&pageSize=2")).JsonAsync();
        Assert.Equal(3, page["total"]!.GetValue<int>());
        Assert.Single(page["items"]!.AsArray());
        Assert.Equal(0, (await (await client.GetAsync("/api/v1/audits?status=queued")).JsonAsync())["total"]!.GetValue<int>());
        await (await client.GetAsync("/api/v1/audits?status=exploded")).AssertProblemAsync(HttpStatusCode.BadRequest, "status");
        await (await client.GetAsync("/api/v1/audits?pageSize=5000")).AssertProblemAsync(HttpStatusCode.BadRequest, "pageSize");
    }
}

public sealed class AuditsTestsOnSqlite() : AuditsTests(DatabaseProvider.Sqlite);

public sealed class AuditsTestsOnPostgres() : AuditsTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;

public abstract class QueuedAuditTests(DatabaseProvider database) : IDisposable
{
    // No worker: audits stay queued, so cancellation and report readiness can be observed deterministically.
    private readonly AuditApiFactory _factory = new(worker: false, database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task Report_WhileQueued_Returns409Problem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        await (await client.GetAsync($"/api/v1/audits/{id}/report")).AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [DatabaseFact]
    public async Task Cancel_QueuedAudit_CancelsItAndASecondCancelConflicts()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();

        HttpResponseMessage cancelled = await client.PostAsync($"/api/v1/audits/{id}/cancel", null);

        Assert.Equal(HttpStatusCode.Accepted, cancelled.StatusCode);
        Assert.Equal("cancelled", (await cancelled.JsonAsync())["status"]!.GetValue<string>());
        await (await client.PostAsync($"/api/v1/audits/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.Conflict);
        await (await client.PostAsync("/api/v1/audits/aud_missing/cancel", null)).AssertProblemAsync(HttpStatusCode.NotFound);
    }
}

public sealed class QueuedAuditTestsOnSqlite() : QueuedAuditTests(DatabaseProvider.Sqlite);

public sealed class QueuedAuditTestsOnPostgres() : QueuedAuditTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;
