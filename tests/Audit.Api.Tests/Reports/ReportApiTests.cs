using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;
using Audit.Api.Tests.Transparency;

namespace Audit.Api.Tests.Reports;

/// <summary>
/// One audit run end to end through the API on a real ONNX model, then its report fetched, checked and verified; on
/// each database provider (issued reports, the transparency log and the access log live in the database).
/// </summary>
public abstract class ReportApiFixture(DatabaseProvider database) : IAsyncLifetime
{
    // Not made when the PostgreSQL variant is skipped (its tests never run).
    private readonly AuditApiFactory? _factory =
        database == DatabaseProvider.PostgreSQL && TestDatabases.PostgresSkipReason is not null ? null : new(database: database);

    public AuditApiFactory Factory => _factory ?? throw new InvalidOperationException(TestDatabases.PostgresSkipReason);

    public HttpClient ClientFor(string apiKey) => Factory.ClientFor(apiKey);

    public string AuditId { get; private set; } = "";

    public byte[] Pdf { get; private set; } = [];

    public async Task InitializeAsync()
    {
        if (_factory is null)
        {
            return;
        }

        HttpClient client = ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        AuditId = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        JsonNode done = await client.WaitForAuditAsync(AuditId);
        Assert.True(done["status"]!.GetValue<string>() == "succeeded", done.ToJsonString());
        HttpResponseMessage report = await client.GetAsync($"/api/v1/audits/{AuditId}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Equal("application/pdf", report.Content.Headers.ContentType?.MediaType);
        Pdf = await report.Content.ReadAsByteArrayAsync();
    }

    public async Task DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }
    }
}

public sealed class ReportApiFixtureOnSqlite() : ReportApiFixture(DatabaseProvider.Sqlite);

public sealed class ReportApiFixtureOnPostgres() : ReportApiFixture(DatabaseProvider.PostgreSQL);

public abstract class ReportApiTests<TFixture>(TFixture fixture) : IClassFixture<TFixture>
    where TFixture : ReportApiFixture
{
    private string ReportId => "rpt_" + fixture.AuditId;

    [DatabaseFact]
    public async Task DownloadedReport_IsSignedAndValid_ForPdfsigAndOpensslWithThePublishedRoot()
    {
        using var directory = new TempDirectory();
        File.WriteAllBytes(directory.File("report.pdf"), fixture.Pdf);
        string rootPem = await fixture.Factory.CreateClient().GetStringAsync("/api/v1/signing-keys/root.pem");
        File.WriteAllText(directory.File("root.pem"), rootPem);

        Assert.Contains("Signature is Valid.", Tools.Run("pdfsig", directory.File("report.pdf")).Output);
        var (exitCode, output) = Tools.OpensslCmsVerify(directory.Path, PdfBytes.SignedBytes(fixture.Pdf), PdfBytes.Cms(fixture.Pdf), directory.File("root.pem"));
        Assert.True(exitCode == 0, output);
        var (qpdfExit, qpdf) = Tools.Run("qpdf", "--check", directory.File("report.pdf"));
        Assert.True(qpdfExit == 0, qpdf);
        Assert.Contains(fixture.AuditId, Tools.Run("pdftotext", directory.File("report.pdf"), "-").Output);
    }

    [DatabaseFact]
    public async Task Verification_OfTheDownloadedReport_IsValid_WithClaims()
    {
        JsonNode result = await VerifyAsync(AuditApiFactory.Regulator, fixture.Pdf);

        Assert.True(result["valid"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal(6, result["checks"]!.AsArray().Count);
        Assert.All(result["checks"]!.AsArray(), c => Assert.True(c!["passed"]!.GetValue<bool>(), c.ToJsonString()));
        Assert.Equal(fixture.AuditId, result["claims"]!["auditId"]!.GetValue<string>());
        Assert.Equal("trojan-scan", result["claims"]!["profileId"]!.GetValue<string>());
        // trojan-scan without a dataset: the inventory passes, the dataset-bound controls are inconclusive.
        Assert.Equal("inconclusive", result["claims"]!["verdict"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Verification_OfATamperedReport_IsInvalid_NamingTheCheck()
    {
        byte[] tampered = PdfBytes.AppendIncrementalUpdate(fixture.Pdf);

        JsonNode result = await VerifyAsync(AuditApiFactory.AcmeAuditor, tampered);

        Assert.False(result["valid"]!.GetValue<bool>());
        JsonNode failed = Assert.Single(result["checks"]!.AsArray(), c => !c!["passed"]!.GetValue<bool>())!;
        Assert.Equal("noLaterIncrementalUpdate", failed["name"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Verification_WithoutAFile_IsAValidationProblem()
    {
        HttpClient client = fixture.ClientFor(AuditApiFactory.Regulator);
        using var form = new MultipartFormDataContent { { new StringContent("x"), "other" } };

        await (await client.PostAsync("/api/v1/verifications", form)).AssertProblemAsync(HttpStatusCode.BadRequest, "file");
    }

    [DatabaseFact]
    public async Task Verification_WithoutAKey_IsAnswered_AndRecordedAsAnonymous()
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent(fixture.Pdf), "file", "r.pdf" } };

        HttpResponseMessage response = await fixture.Factory.CreateClient().PostAsync("/api/v1/verifications", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True((await response.JsonAsync())["valid"]!.GetValue<bool>());
        JsonArray entries = (await (await fixture.ClientFor(AuditApiFactory.AcmeAuditor).GetAsync($"/api/v1/reports/access?reportId={ReportId}")).JsonAsync()).AsArray();
        Assert.Contains(entries, e => e!["action"]!.GetValue<string>() == "verification" && e["role"]!.GetValue<string>() == "anonymous");
    }

    [DatabaseFact]
    public async Task Receipt_IsServedToTheOwningTenant_AndIncludedInTheLog()
    {
        HttpClient client = fixture.ClientFor(AuditApiFactory.AcmeAuditor);
        JsonNode receipt = await (await client.GetAsync($"/api/v1/reports/{ReportId}/receipt")).JsonAsync();
        long index = receipt["logIndex"]!.GetValue<long>();
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(fixture.Pdf)), receipt["reportSha256"]!.GetValue<string>());
        Assert.Equal(index, receipt["payload"]!["logIndex"]!.GetValue<long>());

        HttpClient anonymous = fixture.Factory.CreateClient();
        JsonNode head = await (await anonymous.GetAsync("/api/v1/transparency/tree-head")).JsonAsync();
        long size = head["treeSize"]!.GetValue<long>();
        JsonNode proof = await (await anonymous.GetAsync($"/api/v1/transparency/proofs/inclusion?index={index}&treeSize={size}")).JsonAsync();
        JsonNode entry = await (await anonymous.GetAsync($"/api/v1/transparency/entries/{index}")).JsonAsync();

        byte[] leaf = Rfc9162Verifier.Leaf(Convert.FromBase64String(entry["entryBase64"]!.GetValue<string>()));
        Assert.Equal(receipt["payload"]!["leafHash"]!.GetValue<string>(), Convert.ToHexStringLower(leaf));
        Assert.True(Rfc9162Verifier.VerifyInclusion(index, size, leaf,
            [.. proof["auditPath"]!.AsArray().Select(p => Convert.FromHexString(p!.GetValue<string>()))],
            Convert.FromHexString(head["rootHash"]!.GetValue<string>())));

        await (await fixture.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync($"/api/v1/reports/{ReportId}/receipt"))
            .AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [DatabaseFact]
    public async Task TransparencyProofs_RejectSizesOutsideTheLog()
    {
        HttpClient anonymous = fixture.Factory.CreateClient();

        await (await anonymous.GetAsync("/api/v1/transparency/proofs/inclusion?index=0&treeSize=999")).AssertProblemAsync(HttpStatusCode.NotFound);
        await (await anonymous.GetAsync("/api/v1/transparency/proofs/consistency?first=0&second=1")).AssertProblemAsync(HttpStatusCode.BadRequest, "first");
        await (await anonymous.GetAsync("/api/v1/transparency/entries/999")).AssertProblemAsync(HttpStatusCode.NotFound);
    }

    [DatabaseFact]
    public async Task SigningKeys_ArePublishedAsPemAndJwk()
    {
        JsonNode keys = await (await fixture.Factory.CreateClient().GetAsync("/api/v1/signing-keys")).JsonAsync();

        JsonNode current = Assert.Single(keys["signingKeys"]!.AsArray(), k => k!["current"]!.GetValue<bool>())!;
        Assert.StartsWith("-----BEGIN CERTIFICATE-----", current["pem"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("P-256", current["jwk"]!["crv"]!.GetValue<string>());
        Assert.Equal(current["keyId"]!.GetValue<string>(), current["jwk"]!["kid"]!.GetValue<string>());
        Assert.Single(keys["roots"]!.AsArray());
    }

    [DatabaseFact]
    public async Task DownloadsAndVerifications_AreRecorded_AndReadableByTheTenantsAuditors()
    {
        await VerifyAsync(AuditApiFactory.Regulator, fixture.Pdf);

        HttpResponseMessage response = await fixture.ClientFor(AuditApiFactory.AcmeAuditor).GetAsync($"/api/v1/reports/access?reportId={ReportId}");
        JsonArray entries = (await response.JsonAsync()).AsArray();

        Assert.Contains(entries, e => e!["action"]!.GetValue<string>() == "download" && e["role"]!.GetValue<string>() == "compliance");
        Assert.Contains(entries, e => e!["action"]!.GetValue<string>() == "verification" && e["role"]!.GetValue<string>() == "regulator"
            && e["outcome"]!.GetValue<string>() == "valid");
        Assert.Equal(HttpStatusCode.Forbidden, (await fixture.ClientFor(AuditApiFactory.AcmeCompliance).GetAsync("/api/v1/reports/access")).StatusCode);
        JsonArray globex = (await (await fixture.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync("/api/v1/reports/access")).JsonAsync()) is JsonArray g ? g : [];
        Assert.DoesNotContain(globex, e => e!["reportId"]?.GetValue<string>() == ReportId);
    }

    [DatabaseFact]
    public async Task VerifyPage_IsServed()
    {
        HttpResponseMessage response = await fixture.Factory.CreateClient().GetAsync("/verify");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("/api/v1/verifications", await response.Content.ReadAsStringAsync());
    }

    private async Task<JsonNode> VerifyAsync(string key, byte[] pdf)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(pdf);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/pdf");
        form.Add(file, "file", "report.pdf");
        HttpResponseMessage response = await fixture.ClientFor(key).PostAsync("/api/v1/verifications", form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }
}

public sealed class ReportApiTestsOnSqlite(ReportApiFixtureOnSqlite fixture) : ReportApiTests<ReportApiFixtureOnSqlite>(fixture);

public sealed class ReportApiTestsOnPostgres(ReportApiFixtureOnPostgres fixture) : ReportApiTests<ReportApiFixtureOnPostgres>(fixture), IRunsOnPostgres;
