using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Audit.Cli.Tests;

/// <summary>The real service in process on a fresh data directory, with a compliance key for one tenant.</summary>
public sealed class AuditService : WebApplicationFactory<Program>
{
    public const string ComplianceKey = "test-cli-compliance-key";
    public const string OtherTenantKey = "test-cli-other-tenant-key";

    public string DataDirectory { get; } = Path.Combine(Path.GetTempPath(), "audit-cli-tests", Guid.NewGuid().ToString("N"));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Audit:DataDirectory"] = DataDirectory,
            ["Audit:Worker:Enabled"] = "true",
            ["Audit:Worker:PollInterval"] = "00:00:00.100",
            ["Audit:Worker:WarmUp"] = "false",
            ["Audit:Device"] = "cpu",
            ["Audit:ApiKeys:0:Key"] = ComplianceKey,
            ["Audit:ApiKeys:0:Tenant"] = "acme",
            ["Audit:ApiKeys:0:Role"] = "compliance",
            ["Audit:ApiKeys:1:Key"] = OtherTenantKey,
            ["Audit:ApiKeys:1:Tenant"] = "globex",
            ["Audit:ApiKeys:1:Role"] = "compliance",
        };
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }

        builder.UseEnvironment("Testing");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && Directory.Exists(DataDirectory))
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
    }
}

/// <summary>
/// One audit run end to end through the CLI against the real service: the model uploaded and the audit submitted by
/// <c>audit submit --wait</c> (a one-control inventory profile keeps it to seconds), its report fetched by
/// <c>audit report</c>, and the service's published root saved for <c>audit verify</c>.
/// </summary>
public sealed class ServiceFixture : IAsyncLifetime
{
    public const string QuickProfile = "cli-quick-inventory";

    public AuditService Service { get; } = new();

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "audit-cli-tests", "run-" + Guid.NewGuid().ToString("N"));

    public HttpMessageHandler Handler { get; private set; } = null!;

    public string ModelPath => Path.Combine(Directory, "conv.onnx");

    public string ReportPath => Path.Combine(Directory, "report.pdf");

    public string RootPath => Path.Combine(Directory, "root.pem");

    public CliRun Submit { get; private set; } = null!;

    public CliRun Report { get; private set; } = null!;

    public CliRun SecondSubmit { get; private set; } = null!;

    /// <summary>The second audit's report, fetched so that it is in the transparency log before the tests run.</summary>
    public CliRun SecondReport { get; private set; } = null!;

    public string AuditId { get; private set; } = "";

    public byte[] Pdf { get; private set; } = [];

    public Dictionary<string, string?> Environment { get; } = new() { ["AUDIT_URL"] = "http://localhost", ["AUDIT_API_KEY"] = AuditService.ComplianceKey };

    public Task<CliRun> RunAsync(params string[] args) => CliRunner.RunAsync(Handler, Environment, Directory, args);

    public Task<CliRun> RunAsync(IReadOnlyDictionary<string, string?> environment, params string[] args) => CliRunner.RunAsync(Handler, environment, Directory, args);

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        Handler = Service.Server.CreateHandler();
        File.WriteAllBytes(ModelPath, TestModels.Conv2d);
        using var client = Service.CreateClient();
        File.WriteAllText(RootPath, await client.GetStringAsync(new Uri("/api/v1/signing-keys/root.pem", UriKind.Relative)));
        client.DefaultRequestHeaders.Add("X-Api-Key", AuditService.ComplianceKey);
        var published = await client.PostAsJsonAsync(new Uri("/api/v1/profiles", UriKind.Relative), QuickProfileJson());
        Assert.True(published.IsSuccessStatusCode, await published.Content.ReadAsStringAsync());

        Submit = await RunAsync("submit", "--model", ModelPath, "--profile", QuickProfile, "--wait");
        AuditId = System.Text.RegularExpressions.Regex.Match(Submit.Output, @"aud_[0-9a-f]+").Value;
        Report = await RunAsync("report", AuditId, "-o", ReportPath);
        Pdf = File.Exists(ReportPath) ? File.ReadAllBytes(ReportPath) : [];
        // A second report grows the log past the first one's entry, so inclusion and consistency proofs are not trivial.
        SecondSubmit = await RunAsync("submit", "--model", ModelPath, "--profile", QuickProfile, "--wait", "--json");

        // The worker issues a finished audit's report in the background; fetching it issues it now if it has not, so
        // the log surely holds the second entry before any test reads the tree (a run on 2026-12-02 saw size 1).
        string secondId = System.Text.RegularExpressions.Regex.Match(SecondSubmit.Output, @"aud_[0-9a-f]+").Value;
        SecondReport = await RunAsync("report", secondId, "-o", Path.Combine(Directory, "second.pdf"));
    }

    public string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    public Task DisposeAsync()
    {
        Service.Dispose();
        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    /// <summary>The built-in trojan scan cut to its inventory control: a real audit and a real signed report in seconds.</summary>
    private static JsonObject QuickProfileJson()
    {
        var profile = (JsonObject)JsonNode.Parse(File.ReadAllText(BuiltInProfilePath("trojan-scan")))!;
        profile["id"] = QuickProfile;
        profile["title"] = "Inventory only (CLI tests)";
        var controls = (JsonArray)profile["controls"]!;
        while (controls.Count > 1)
        {
            controls.RemoveAt(controls.Count - 1);
        }

        return profile;
    }

    private static string BuiltInProfilePath(string id)
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Audit.sln")))
        {
            directory = directory.Parent;
        }

        return Path.Combine(directory?.FullName ?? throw new DirectoryNotFoundException("Audit.sln not found above the test output."),
            "src", "Audit.Domain", "Profiles", "BuiltIn", id + ".json");
    }
}
