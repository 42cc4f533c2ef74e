using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests;

public abstract class AuthenticationTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false, database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task Request_WithoutKey_Returns401Problem()
    {
        HttpResponseMessage response = await _factory.CreateClient().GetAsync("/api/v1/profiles");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [DatabaseFact]
    public async Task Request_WithUnknownKey_Returns401Problem()
    {
        HttpResponseMessage response = await _factory.ClientFor("not-a-key").GetAsync("/api/v1/profiles");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [DatabaseFact]
    public async Task Request_WithBearerKey_IsAuthenticated()
    {
        HttpResponseMessage response = await _factory.BearerClientFor(AuditApiFactory.AcmeAuditor).GetAsync("/api/v1/profiles");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [DatabaseFact]
    public async Task Upload_ByAuditor_Returns403Problem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeAuditor).UploadAsync(TestModels.Conv2d, "model");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [DatabaseFact]
    public async Task ReadAudits_ByRegulator_Returns403Problem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.Regulator).GetAsync("/api/v1/audits");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [DatabaseFact]
    public async Task AdminEndpoints_ForComplianceKey_Return403Problem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).GetAsync("/api/v1/admin/tenants");

        await response.AssertProblemAsync(HttpStatusCode.Forbidden);
    }

    [DatabaseFact]
    public async Task Admin_CreatesTenantAndKey_WhichWorksUntilRevoked()
    {
        HttpClient admin = _factory.ClientFor(AuditApiFactory.Admin);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/v1/admin/tenants", new { id = "initech", name = "Initech" })).StatusCode);
        await (await admin.PostAsJsonAsync("/api/v1/admin/tenants", new { id = "initech", name = "Again" })).AssertProblemAsync(HttpStatusCode.Conflict);

        HttpResponseMessage created = await admin.PostAsJsonAsync("/api/v1/admin/api-keys", new { tenantId = "initech", role = "compliance", name = "ci" });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        JsonNode key = await created.JsonAsync();
        string secret = key["key"]!.GetValue<string>();

        HttpClient initech = _factory.ClientFor(secret);
        Assert.Equal(HttpStatusCode.Created, (await initech.UploadAsync(TestModels.Conv2d, "model")).StatusCode);

        JsonNode listed = await (await admin.GetAsync("/api/v1/admin/api-keys")).JsonAsync();
        Assert.DoesNotContain(secret, listed.ToJsonString(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"/api/v1/admin/api-keys/{key["id"]}/revoke", null)).StatusCode);
        await (await initech.GetAsync("/api/v1/profiles")).AssertProblemAsync(HttpStatusCode.Unauthorized);
    }

    [DatabaseFact]
    public async Task Admin_CreatingComplianceKeyWithoutTenant_ReturnsFieldError()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.Admin)
            .PostAsJsonAsync("/api/v1/admin/api-keys", new { role = "compliance" });

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "tenantId");
    }

    [DatabaseFact]
    public async Task Health_LiveAndReady_AreAnonymousAndHealthy()
    {
        HttpClient client = _factory.CreateClient();

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        HttpResponseMessage ready = await client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
    }

    [DatabaseFact]
    public async Task OpenApiDocument_DescribesTheFlow()
    {
        JsonNode document = await (await _factory.CreateClient().GetAsync("/openapi/v1.json")).JsonAsync();

        JsonObject paths = document["paths"]!.AsObject();
        foreach (string path in new[] { "/api/v1/artifacts", "/api/v1/artifacts/{id}", "/api/v1/audits", "/api/v1/audits/{id}", "/api/v1/audits/{id}/cancel", "/api/v1/audits/{id}/report", "/api/v1/profiles", "/api/v1/profiles/{id}/versions" })
        {
            Assert.True(paths.ContainsKey(path), $"OpenAPI lacks {path}");
        }
    }
}

public sealed class AuthenticationTestsOnSqlite() : AuthenticationTests(DatabaseProvider.Sqlite);

public sealed class AuthenticationTestsOnPostgres() : AuthenticationTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;
