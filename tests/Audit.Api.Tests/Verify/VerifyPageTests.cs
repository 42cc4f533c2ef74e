using System.Text.Json.Nodes;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.Verify;

/// <summary>
/// The /verify page in Debian's headless Chromium, driven by Playwright (verify-page.mjs, playwright-core from npm,
/// installed by scripts/test.sh together with the chromium package) against the API on a real Kestrel port.
/// </summary>
public sealed class VerifyPageTests : IAsyncLifetime
{
    private readonly AuditApiFactory _factory = new(worker: false);
    private readonly TempDirectory _files = new();
    private string _baseUrl = "";
    private byte[] _pdf = [];

    public async Task InitializeAsync()
    {
        _factory.UseKestrel(0);
        _factory.StartServer();
        _baseUrl = _factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var issued = await _factory.Services.GetRequiredService<ReportIssuer>().IssueAsync(SampleReports.Create("rpt_page", inventoryRows: 10), CancellationToken.None);
        _pdf = (await _factory.Services.GetRequiredService<IIssuedReportStore>().ReadPdfAsync(issued.ReportId, CancellationToken.None))!;
    }

    public Task DisposeAsync()
    {
        _factory.Dispose();
        _files.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public void DroppingAGenuineReport_ShowsValid_WithEveryCheckPassed()
    {
        JsonNode shown = RunPage(_pdf);

        Assert.Null(shown["error"]);
        Assert.Equal("true", shown["valid"]!.GetValue<string>());
        Assert.Contains("Valid", shown["verdict"]!.GetValue<string>());
        JsonArray checks = shown["checks"]!.AsArray();
        Assert.Equal(6, checks.Count);
        Assert.All(checks, c => Assert.True(c!["passed"]!.GetValue<bool>(), c.ToJsonString()));
        Assert.Contains(shown["claims"]!.AsArray(), row => row![0]!.GetValue<string>() == "reportId" && row[1]!.GetValue<string>() == "rpt_page");
    }

    [Fact]
    public void DroppingAnUpdatedReport_ShowsNotValid_AndTheFailingCheck()
    {
        JsonNode shown = RunPage(PdfBytes.AppendIncrementalUpdate(_pdf));

        Assert.Equal("false", shown["valid"]!.GetValue<string>());
        JsonNode failed = Assert.Single(shown["checks"]!.AsArray(), c => !c!["passed"]!.GetValue<bool>())!;
        Assert.Equal("noLaterIncrementalUpdate", failed["name"]!.GetValue<string>());
        Assert.Contains("FAILED", failed["text"]!.GetValue<string>());
    }

    private JsonNode RunPage(byte[] pdf)
    {
        var path = _files.File(Guid.NewGuid().ToString("N") + ".pdf");
        File.WriteAllBytes(path, pdf);
        var (exitCode, output) = Tools.Run("node", Path.Combine(ScriptDirectory, "verify-page.mjs"), _baseUrl, AuditApiFactory.Regulator, path);
        Assert.True(exitCode == 0, output);
        return JsonNode.Parse(output.Trim().Split('\n')[^1])!;
    }

    private static string ScriptDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "tests", "Audit.Api.Tests", "Verify");
                if (File.Exists(Path.Combine(candidate, "node_modules", "playwright-core", "package.json")))
                {
                    return candidate;
                }
            }

            throw new DirectoryNotFoundException("tests/Audit.Api.Tests/Verify/node_modules is missing: run scripts/test.sh (npm ci there).");
        }
    }
}
