using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;
using Audit.Domain.Findings;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.Verifications;

/// <summary>Two reports issued through the API's own services, so the log holds more than one tenant's entry.</summary>
public sealed class PublicVerificationFixture : IAsyncLifetime
{
    public const string PublicBaseUrl = "https://audit.example.test";

    public AuditApiFactory Factory { get; } = new(worker: false, settings: new Dictionary<string, string?> { ["Audit:PublicBaseUrl"] = PublicBaseUrl });

    public IssuedReport First { get; private set; } = null!;

    public IssuedReport Second { get; private set; } = null!;

    public byte[] Pdf { get; private set; } = [];

    public async Task InitializeAsync()
    {
        var issuer = Factory.Services.GetRequiredService<ReportIssuer>();
        First = await issuer.IssueAsync(SampleReports.Create("rpt_public_1", inventoryRows: 5), CancellationToken.None);
        Second = await issuer.IssueAsync(SampleReports.Create("rpt_public_2", inventoryRows: 5, verdict: Verdict.Pass), CancellationToken.None);
        Pdf = (await Factory.Services.GetRequiredService<IIssuedReportStore>().ReadPdfAsync(Second.ReportId, CancellationToken.None))!;
    }

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }
}

public sealed class PublicVerificationTests(PublicVerificationFixture fixture) : IClassFixture<PublicVerificationFixture>
{
    private string Sha256 => Convert.ToHexStringLower(SHA256.HashData(fixture.Pdf));

    [Fact]
    public async Task AnonymousVerification_OfAGenuineReport_IsValid_AndShowsItsStatementAndReceipt()
    {
        JsonNode result = await VerifyAsync(fixture.Factory.CreateClient(), fixture.Pdf);

        Assert.True(result["valid"]!.GetValue<bool>(), result.ToJsonString());
        Assert.Equal(fixture.Second.LogIndex, result["logIndex"]!.GetValue<long>());
        Assert.Equal(Sha256, result["statement"]!["reportSha256"]!.GetValue<string>());
        Assert.Equal("pass", result["statement"]!["verdict"]!.GetValue<string>());
        Assert.Equal(fixture.Second.Receipt, Convert.FromBase64String(result["receipt"]!.GetValue<string>()));
    }

    [Fact]
    public async Task AnonymousVerification_OfATamperedReport_IsInvalid_AndShowsNoStatement()
    {
        var tampered = (byte[])fixture.Pdf.Clone();
        tampered[PdfBytes.ByteRange(tampered)[1] / 2] ^= 0x20;

        JsonNode result = await VerifyAsync(fixture.Factory.CreateClient(), tampered);

        Assert.False(result["valid"]!.GetValue<bool>());
        Assert.Contains(result["checks"]!.AsArray(), c => c!["name"]!.GetValue<string>() == "signature" && !c["passed"]!.GetValue<bool>());
        Assert.Null(result["statement"]);
        Assert.Null(result["receipt"]);
    }

    [Fact]
    public async Task LookupByReportSha256_FindsTheEntry_WithTheStatementItCommitsTo()
    {
        JsonArray found = (await (await fixture.Factory.CreateClient().GetAsync($"/api/v1/transparency/entries?reportSha256={Sha256.ToUpperInvariant()}")).JsonAsync()).AsArray();

        JsonNode entry = Assert.Single(found)!;
        Assert.Equal(fixture.Second.LogIndex, entry["index"]!.GetValue<long>());
        byte[] statement = Convert.FromBase64String(entry["statementBase64"]!.GetValue<string>());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(statement)), entry["entry"]!["statementSha256"]!.GetValue<string>());
        Assert.Equal(Sha256, entry["statement"]!["reportSha256"]!.GetValue<string>());
        Assert.Equal(fixture.Second.Receipt, Convert.FromBase64String(entry["receipt"]!.GetValue<string>()));
        byte[] logged = Convert.FromBase64String(entry["entryBase64"]!.GetValue<string>());
        Assert.Equal(fixture.Second.LogEntry, logged);
    }

    [Fact]
    public async Task LookupByReportSha256_IsEmptyForUnknownBytes_AndRejectsANonHash()
    {
        HttpClient client = fixture.Factory.CreateClient();

        JsonNode none = await (await client.GetAsync($"/api/v1/transparency/entries?reportSha256={new string('0', 64)}")).JsonAsync();
        Assert.Empty(none.AsArray());
        await (await client.GetAsync("/api/v1/transparency/entries?reportSha256=abc")).AssertProblemAsync(HttpStatusCode.BadRequest, "reportSha256");
        await (await client.GetAsync("/api/v1/transparency/entries")).AssertProblemAsync(HttpStatusCode.BadRequest, "reportSha256");
    }

    [Fact]
    public async Task PublicListing_ShowsNoTenantAuditModelProfileOrVerdict_ButProofsStillVerify()
    {
        HttpClient anonymous = fixture.Factory.CreateClient();
        JsonNode head = await (await anonymous.GetAsync("/api/v1/transparency/tree-head")).JsonAsync();
        long size = head["treeSize"]!.GetValue<long>();
        Assert.True(size >= 2);

        for (var index = 0L; index < size; index++)
        {
            HttpResponseMessage response = await anonymous.GetAsync($"/api/v1/transparency/entries/{index}");
            string text = await response.Content.ReadAsStringAsync();
            byte[] entry = Convert.FromBase64String((await response.JsonAsync())["entryBase64"]!.GetValue<string>());
            string all = text + Encoding.UTF8.GetString(entry);
            foreach (var secret in new[] { "acme-bank", "aud-42", new string('a', 64), new string('b', 64), new string('c', 64), "eu-ai-act-robustness", "rpt_public", "\"fail\"", "\"pass\"", "verdict" })
            {
                Assert.DoesNotContain(secret, all, StringComparison.Ordinal);
            }

            JsonNode proof = await (await anonymous.GetAsync($"/api/v1/transparency/proofs/inclusion?index={index}&treeSize={size}")).JsonAsync();
            Assert.True(Transparency.Rfc9162Verifier.VerifyInclusion(index, size, Transparency.Rfc9162Verifier.Leaf(entry),
                [.. proof["auditPath"]!.AsArray().Select(p => Convert.FromHexString(p!.GetValue<string>()))],
                Convert.FromHexString(head["rootHash"]!.GetValue<string>())));
        }
    }

    [Fact]
    public async Task Report_StatesItsLogIndexServiceAndRootFingerprint_InTextAndXmp()
    {
        string root = Convert.ToHexStringLower(SHA256.HashData(
            System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(
                await fixture.Factory.CreateClient().GetStringAsync("/api/v1/signing-keys/root.pem")).RawData));
        using var directory = new TempDirectory();
        File.WriteAllBytes(directory.File("report.pdf"), fixture.Pdf);

        string text = Tools.Run("pdftotext", directory.File("report.pdf"), "-").Output;
        string flat = string.Join(" ", text.Split((char[])[' ', '\n', '\r', '\f'], StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"Transparency log index {fixture.Second.LogIndex}", flat, StringComparison.Ordinal);
        Assert.Contains(PublicVerificationFixture.PublicBaseUrl + "/verify", flat, StringComparison.Ordinal);
        Assert.Contains(PublicVerificationFixture.PublicBaseUrl + "/docs/verification", flat, StringComparison.Ordinal);
        Assert.Contains(root, flat.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        string pdf = Encoding.Latin1.GetString(fixture.Pdf);
        int start = pdf.IndexOf("<x:xmpmeta", StringComparison.Ordinal);
        Assert.True(start > 0, "no XMP packet");
        string xmp = pdf[start..(pdf.IndexOf("</x:xmpmeta>", start, StringComparison.Ordinal) + 12)];
        var rdf = System.Xml.Linq.XDocument.Parse(xmp);
        System.Xml.Linq.XNamespace audit = ReportXmp.Namespace;
        Assert.Equal(fixture.Second.LogIndex.ToString(System.Globalization.CultureInfo.InvariantCulture), rdf.Descendants(audit + "transparencyLogIndex").Single().Value);
        Assert.Equal(root, rdf.Descendants(audit + "rootCertificateSha256").Single().Value);
        Assert.Equal(PublicVerificationFixture.PublicBaseUrl, rdf.Descendants(audit + "serviceUrl").Single().Value);
        Assert.Contains("/Metadata", pdf, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signer_SaysDevelopment_WhenNoOperatorIsConfigured()
    {
        JsonNode result = await VerifyAsync(fixture.Factory.CreateClient(), fixture.Pdf);

        Assert.Contains("(development)", result["signer"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Receipt_StillNeedsTheOwningTenant_ForRegulatorsWithoutTheReport()
    {
        // A regulator presenting the report gets its receipt from verification or the lookup; by id alone, no.
        HttpResponseMessage response = await fixture.Factory.ClientFor(AuditApiFactory.Regulator).GetAsync($"/api/v1/reports/{fixture.Second.ReportId}/receipt");

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public void ReceiptPayload_CarriesTheStatementBytesAndTheExactLogEntry()
    {
        JsonNode payload = JsonNode.Parse(CoseMessage.DecodeSign1(fixture.Second.Receipt).Content!.Value.Span)!;

        Assert.Equal(fixture.Second.LogEntry, Convert.FromBase64String(payload["entryBase64"]!.GetValue<string>()));
        Assert.Equal(fixture.Second.Statement, Convert.FromBase64String(payload["statementBase64"]!.GetValue<string>()));
        Assert.Equal(fixture.Second.LogIndex, payload["statement"]!["logIndex"]!.GetValue<long>());
    }

    internal static async Task<JsonNode> VerifyAsync(HttpClient client, byte[] pdf)
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent(pdf), "file", "report.pdf" } };
        HttpResponseMessage response = await client.PostAsync("/api/v1/verifications", form);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }
}

public sealed class VerificationLimitTests
{
    [Fact]
    public async Task Verification_PastThePerAddressLimit_Is429ProblemWithRetryAfter()
    {
        using var factory = new AuditApiFactory(worker: false, settings: new Dictionary<string, string?>
        {
            ["Audit:Verification:PermitLimit"] = "2",
            ["Audit:Verification:Window"] = "00:10:00",
        });
        HttpClient client = factory.CreateClient();
        for (var i = 0; i < 2; i++)
        {
            using var ok = new MultipartFormDataContent { { new ByteArrayContent("%PDF-1.7 not a report"u8.ToArray()), "file", "r.pdf" } };
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/v1/verifications", ok)).StatusCode);
        }

        using var form = new MultipartFormDataContent { { new ByteArrayContent("%PDF-1.7 not a report"u8.ToArray()), "file", "r.pdf" } };
        HttpResponseMessage limited = await client.PostAsync("/api/v1/verifications", form);

        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.Equal("application/problem+json", limited.Content.Headers.ContentType?.MediaType);
        Assert.True(int.TryParse(limited.Headers.GetValues("Retry-After").Single(), out var seconds) && seconds is > 0 and <= 600, "Retry-After");
        Assert.Equal(429, (await limited.JsonAsync())["status"]!.GetValue<int>());
    }

    [Fact]
    public async Task Verification_OfAnUploadOverTheLimit_Is413Problem()
    {
        using var factory = new AuditApiFactory(worker: false, settings: new Dictionary<string, string?> { ["Audit:Verification:MaxUploadBytes"] = "4096" });
        using var form = new MultipartFormDataContent { { new ByteArrayContent(new byte[8192]), "file", "r.pdf" } };

        HttpResponseMessage response = await factory.CreateClient().PostAsync("/api/v1/verifications", form);

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
    }
}
