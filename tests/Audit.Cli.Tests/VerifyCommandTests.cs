using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Audit.Cli.Tests;

[Collection(ServiceCollection.Name)]
public sealed partial class VerifyCommandTests(ServiceFixture fixture)
{
    private static readonly Dictionary<string, string?> NoEnvironment = [];

    [Fact]
    public async Task Verify_AGenuineReport_Offline_IsValid()
    {
        var run = await VerifyAsync(fixture.ReportPath);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("VALID", run.Output, StringComparison.Ordinal);
        foreach (var check in new[] { "byteRange", "messageDigest", "signature", "certificateChain" })
        {
            Assert.Contains($"ok   {check}:", run.Output, StringComparison.Ordinal);
        }

        Assert.Contains(fixture.AuditId, run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithOneByteFlippedInsideTheSignedRange_IsInvalid()
    {
        var pdf = (byte[])fixture.Pdf.Clone();
        var range = ByteRange(pdf);
        pdf[range[1] / 2] ^= 0x01;

        var run = await VerifyAsync(fixture.Write("tampered.pdf", pdf), "--json");
        Assert.True(run.ExitCode == 1, run.ToString());
        var result = JsonNode.Parse(run.Output)!;
        Assert.False(result["valid"]!.GetValue<bool>());
        Assert.Equal("failed", Status(result, "messageDigest"));
        Assert.Equal("failed", Status(result, "signature"));
        Assert.Equal("passed", Status(result, "byteRange"));
    }

    [Fact]
    public async Task Verify_WithAnIncrementalUpdateAppendedAfterSigning_IsInvalid_AndSaysSo()
    {
        var update = Encoding.ASCII.GetBytes("\n99 0 obj\n<< /Title (Altered after signing) >>\nendobj\ntrailer\n<< /Size 100 /Info 99 0 R >>\n%%EOF\n");
        var path = fixture.Write("appended.pdf", [.. fixture.Pdf, .. update]);

        var run = await VerifyAsync(path);
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("INVALID", run.Output, StringComparison.Ordinal);
        Assert.Contains($"FAIL byteRange: {update.Length} bytes follow the signed revision (an incremental update appended after signing)", run.Output, StringComparison.Ordinal);
        // The signed revision itself is intact: only the coverage check fails.
        Assert.Contains("ok   signature:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithAByteRangeWidenedToLeaveMoreThanTheSignatureUnsigned_IsInvalid()
    {
        var pdf = (byte[])fixture.Pdf.Clone();
        var text = Encoding.Latin1.GetString(pdf);
        var match = ByteRangePattern().Matches(text)[^1];
        var range = ByteRange(pdf);
        // Ten more bytes before /Contents escape the signature; the rewrite keeps every offset in the file the same.
        var widened = $"/ByteRange [{range[0]} {range[1] - 10} {range[2]} {range[3]}]".PadRight(match.Length);
        Assert.Equal(match.Length, widened.Length);
        Encoding.Latin1.GetBytes(widened).CopyTo(pdf, match.Index);

        var run = await VerifyAsync(fixture.Write("widened.pdf", pdf), "--json");
        Assert.True(run.ExitCode == 1, run.ToString());
        var result = JsonNode.Parse(run.Output)!;
        Assert.Equal("failed", Status(result, "byteRange"));
        Assert.Contains("not exactly the /Contents hex string", result["checks"]![0]!["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_AgainstAnotherRoot_IsInvalid()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Someone Else's Root", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var other = request.CreateSelfSigned(DateTimeOffset.Parse("2020-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), DateTimeOffset.Parse("2040-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var root = fixture.Write("other-root.pem", Encoding.ASCII.GetBytes(other.ExportCertificatePem()));

        var run = await CliRunner.RunAsync(null, NoEnvironment, fixture.Directory, "verify", fixture.ReportPath, "--root", root, "--json");
        Assert.True(run.ExitCode == 1, run.ToString());
        var result = JsonNode.Parse(run.Output)!;
        Assert.Equal("failed", Status(result, "certificateChain"));
        Assert.Equal("passed", Status(result, "signature"));
    }

    [Theory]
    [InlineData("not-a-pdf")]
    [InlineData("missing")]
    [InlineData("unsigned-pdf")]
    public async Task Verify_WhenNothingCanBeChecked_Exits2(string kind)
    {
        var path = kind switch
        {
            "not-a-pdf" => fixture.Write("random.bin", RandomNumberGenerator.GetBytes(4096)),
            "unsigned-pdf" => fixture.Write("unsigned.pdf", Encoding.ASCII.GetBytes("%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")),
            _ => Path.Combine(fixture.Directory, "does-not-exist.pdf"),
        };

        var run = await VerifyAsync(path);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("NOT CHECKED", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithAnUnreadableRoot_Exits2()
    {
        var run = await CliRunner.RunAsync(null, NoEnvironment, fixture.Directory, "verify", fixture.ReportPath, "--root", fixture.ReportPath);
        Assert.True(run.ExitCode == 2, run.ToString());
    }

    [Fact]
    public async Task Verify_WithLog_FindsTheEntryThroughTheReceipt_AndProvesInclusionAndConsistency()
    {
        // A log without the public lookup by report hash: the CLI falls back to the receipt with the tenant's key.
        Assert.True(fixture.SecondReport.ExitCode == 0, fixture.SecondReport.ToString());
        using var noLookup = new StubLog(fixture.Handler) { NoLookup = true };
        var run = await VerifyWithLogAsync(noLookup, fixture.Environment, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var result = JsonNode.Parse(run.Output)!;
        Assert.Equal("passed", Status(result, "transparencyLogInclusion"));
        Assert.Equal("passed", Status(result, "transparencyLogConsistency"));
        var index = await LogIndexAsync();
        Assert.Equal(index, result["log"]!["index"]!.GetValue<long>());
        // The fixture's second report came after this one: the proofs span a tree that grew since the entry.
        var size = result["log"]!["treeSize"]!.GetValue<long>();
        Assert.True(size > index + 1, $"tree size {size}, entry {index}");
        Assert.Contains($"The tree of size {index + 1} (when entry {index} was appended) is a prefix of the signed tree of size {size}.",
            result["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "transparencyLogConsistency")!["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithLog_UsesThePublicLookupByReportHash_WithoutAnyKey()
    {
        var index = await LogIndexAsync();
        using var stub = new StubLog(fixture.Handler) { Lookup = sha => sha == Sha256(fixture.Pdf) ? [index] : [] };
        var run = await VerifyWithLogAsync(stub, NoEnvironment, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal(1, stub.Lookups);

        using var empty = new StubLog(fixture.Handler) { Lookup = _ => [] };
        var unknown = await VerifyWithLogAsync(empty, NoEnvironment);
        Assert.True(unknown.ExitCode == 1, unknown.ToString());
        Assert.Contains("not on the record", unknown.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithLog_AgainstTheRealService_WithoutAnyKey_FindsTheEntryByReportHash()
    {
        var run = await VerifyWithLogAsync(fixture.Handler, NoEnvironment, "--json");

        Assert.True(run.ExitCode == 0, run.ToString());
        var result = JsonNode.Parse(run.Output)!;
        Assert.Equal("passed", Status(result, "transparencyLogInclusion"));
        Assert.Equal("passed", Status(result, "transparencyLogConsistency"));
        Assert.Equal(await LogIndexAsync(), result["log"]!["index"]!.GetValue<long>());
    }

    [Fact]
    public async Task Verify_WithLog_WithoutLookupOrKey_CannotCheck_AndExits2()
    {
        using var noLookup = new StubLog(fixture.Handler) { NoLookup = true };
        var run = await VerifyWithLogAsync(noLookup, NoEnvironment);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("AUDIT_API_KEY", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithLog_RejectsAnUnsignedTreeHead_AndAForgedAuditPath()
    {
        using var forgedHead = new StubLog(fixture.Handler) { Rewrite = (path, json) => path.EndsWith("tree-head", StringComparison.Ordinal) ? Set(json, "rootHash", new string('a', 64)) : json };
        var head = await VerifyWithLogAsync(forgedHead, fixture.Environment);
        Assert.True(head.ExitCode == 1, head.ToString());
        Assert.Contains("FAIL transparencyLogInclusion: The tree head's fields differ from what its signature covers", head.Output, StringComparison.Ordinal);

        // Even a one-entry log's empty path cannot be replaced by another: the path is checked here, not trusted.
        using var forgedPath = new StubLog(fixture.Handler)
        {
            Rewrite = (path, json) => path.Contains("proofs/inclusion", StringComparison.Ordinal) ? Set(json, "auditPath", new JsonArray(new string('b', 64))) : json,
        };
        var forged = await VerifyWithLogAsync(forgedPath, fixture.Environment);
        Assert.True(forged.ExitCode == 1, forged.ToString());
        Assert.Contains("FAIL transparencyLogInclusion: The audit path of entry", forged.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithLog_WhenTheLogIsUnreachable_Exits2()
    {
        using var down = new StubLog(fixture.Handler) { Down = true };
        var run = await VerifyWithLogAsync(down, fixture.Environment);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("could not be read", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_WithAPinnedTreeHead_ChecksConsistency_AndRefusesAForgedPin()
    {
        var pin = Path.Combine(fixture.Directory, "pinned-" + Guid.NewGuid().ToString("N") + ".json");
        var first = await VerifyWithLogAsync(fixture.Handler, fixture.Environment, "--tree-head", pin);
        Assert.True(first.ExitCode == 0, first.ToString());
        Assert.True(File.Exists(pin));

        var second = await VerifyWithLogAsync(fixture.Handler, fixture.Environment, "--tree-head", pin);
        Assert.True(second.ExitCode == 0, second.ToString());
        Assert.Contains("The pinned tree head of size", second.Output, StringComparison.Ordinal);

        var pinned = (JsonObject)JsonNode.Parse(File.ReadAllText(pin))!;
        File.WriteAllText(pin, Set(pinned, "rootHash", new string('c', 64)).ToJsonString());
        var forged = await VerifyWithLogAsync(fixture.Handler, fixture.Environment, "--tree-head", pin);
        Assert.True(forged.ExitCode == 1, forged.ToString());
        Assert.Contains("FAIL transparencyLogConsistency: The pinned tree head", forged.Output, StringComparison.Ordinal);
    }

    private Task<CliRun> VerifyAsync(string path, params string[] extra) =>
        CliRunner.RunAsync(null, NoEnvironment, fixture.Directory, ["verify", path, "--root", fixture.RootPath, .. extra]);

    private Task<CliRun> VerifyWithLogAsync(HttpMessageHandler handler, IReadOnlyDictionary<string, string?> environment, params string[] extra) =>
        CliRunner.RunAsync(handler, environment, fixture.Directory, ["verify", fixture.ReportPath, "--root", fixture.RootPath, "--log", "http://localhost", .. extra]);

    private async Task<long> LogIndexAsync()
    {
        using var client = fixture.Service.CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", AuditService.ComplianceKey);
        var receipt = JsonNode.Parse(await client.GetStringAsync(new Uri($"/api/v1/reports/rpt_{fixture.AuditId}/receipt", UriKind.Relative)))!;
        return receipt["logIndex"]!.GetValue<long>();
    }

    private static string Status(JsonNode result, string check) =>
        result["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == check)!["status"]!.GetValue<string>();

    private static JsonObject Set(JsonObject json, string name, JsonNode value)
    {
        json[name] = value;
        return json;
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static int[] ByteRange(byte[] pdf)
    {
        var match = ByteRangePattern().Matches(Encoding.Latin1.GetString(pdf))[^1];
        return [.. Enumerable.Range(1, 4).Select(i => int.Parse(match.Groups[i].Value, System.Globalization.CultureInfo.InvariantCulture))];
    }

    [GeneratedRegex(@"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")]
    private static partial Regex ByteRangePattern();

    /// <summary>
    /// The real service behind a stand-in for what it should never do or another log may not do: a rigged public
    /// lookup <c>GET /api/v1/transparency/entries?reportSha256=</c> (or none at all), answers rewritten as a lying log
    /// would, or no network.
    /// </summary>
    private sealed class StubLog(HttpMessageHandler service) : DelegatingHandler(service)
    {
        public Func<string, long[]>? Lookup { get; init; }

        public Func<string, JsonObject, JsonObject>? Rewrite { get; init; }

        public bool Down { get; init; }

        /// <summary>Answer the lookup by report hash with 404, as a log without it does.</summary>
        public bool NoLookup { get; init; }

        public int Lookups { get; private set; }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (Down)
            {
                throw new HttpRequestException("Connection refused (stub)");
            }

            var path = request.RequestUri!.AbsolutePath;
            var query = System.Web.HttpUtility.ParseQueryString(request.RequestUri.Query);
            if (NoLookup && path == "/api/v1/transparency/entries")
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound);
            }

            if (Lookup is not null && path == "/api/v1/transparency/entries" && query["reportSha256"] is { } sha)
            {
                Lookups++;
                var entries = new JsonArray([.. Lookup(sha).Select(i => (JsonNode)new JsonObject { ["index"] = i })]);
                return new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(entries.ToJsonString(), Encoding.UTF8, "application/json") };
            }

            var response = await base.SendAsync(request, cancellationToken);
            if (Rewrite is null || !response.IsSuccessStatusCode || response.Content.Headers.ContentType?.MediaType != "application/json")
            {
                return response;
            }

            // Only objects are rewritten; the lookup's array passes through as the service sent it.
            if (JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) is JsonObject json)
            {
                response.Content = new StringContent(Rewrite(path, json).ToJsonString(), Encoding.UTF8, "application/json");
            }

            return response;
        }
    }
}
