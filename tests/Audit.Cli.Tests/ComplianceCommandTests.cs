using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Audit.Cli.Tests;

[CollectionDefinition(Name)]
public sealed class ServiceCollection : ICollectionFixture<ServiceFixture>
{
    public const string Name = "audit service";
}

[Collection(ServiceCollection.Name)]
public sealed class ComplianceCommandTests(ServiceFixture fixture)
{
    [Fact]
    public void SubmitWithWait_UploadsTheModel_FollowsTheAudit_AndPrintsVerdictAndControls()
    {
        Assert.True(fixture.Submit.ExitCode == 0, fixture.Submit.ToString());
        Assert.Matches(@"Uploaded conv\.onnx as model art_[0-9a-f]+", fixture.Submit.Output);
        Assert.True(fixture.Submit.Output.Contains($"Audit {fixture.AuditId}: succeeded (100%)", StringComparison.Ordinal), fixture.Submit.Output);
        Assert.Matches(@"verdict: (pass|fail|inconclusive)", fixture.Submit.Output);
        Assert.Contains("inventory", fixture.Submit.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(AuditService.ComplianceKey, fixture.Submit.Output, StringComparison.Ordinal);
    }

    [Fact]
    public void SubmitWithWaitAndJson_PrintsOnlyTheFinishedAudit()
    {
        Assert.True(fixture.SecondSubmit.ExitCode == 0, fixture.SecondSubmit.ToString());
        var audit = JsonNode.Parse(fixture.SecondSubmit.Output)!;
        Assert.Equal("succeeded", audit["status"]!.GetValue<string>());
        Assert.NotEqual(fixture.AuditId, audit["id"]!.GetValue<string>());
        Assert.Equal("inventory", audit["controls"]![0]!["controlId"]!.GetValue<string>());
    }

    [Fact]
    public void Report_WritesTheSignedPdfTheServiceIssued()
    {
        Assert.True(fixture.Report.ExitCode == 0, fixture.Report.ToString());
        Assert.StartsWith("%PDF-", System.Text.Encoding.ASCII.GetString(fixture.Pdf, 0, 5), StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(fixture.Pdf)), fixture.Report.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitWithWait_WhenTheAuditFailsToRun_ShowsTheError_AndExits1()
    {
        var lstm = fixture.Write("lstm.onnx", TestModels.Lstm);
        var run = await fixture.RunAsync("submit", "--model", lstm, "--profile", ServiceFixture.QuickProfile, "--wait");
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Matches(@"Audit aud_[0-9a-f]+: failed", run.Output);
        Assert.Contains("error:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upload_PrintsTheArtifactId_ThatTheServiceKnows()
    {
        var run = await fixture.RunAsync("upload", fixture.ModelPath, "--kind", "model", "--name", "conv-from-cli");
        Assert.True(run.ExitCode == 0, run.ToString());
        var id = run.Output.Trim();
        Assert.Matches("^art_[0-9a-f]+$", id);

        var json = await fixture.RunAsync("upload", fixture.ModelPath, "--kind", "model", "--json");
        var artifact = JsonNode.Parse(json.Output)!;
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(fixture.ModelPath))), artifact["sha256"]!.GetValue<string>());
        Assert.Equal("model", artifact["kind"]!.GetValue<string>());
    }

    [Fact]
    public async Task Status_ShowsTheFinishedAudit_AsTextAndJson()
    {
        var text = await fixture.RunAsync("status", fixture.AuditId);
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("succeeded", text.Output, StringComparison.Ordinal);
        Assert.Contains(ServiceFixture.QuickProfile, text.Output, StringComparison.Ordinal);

        var json = await fixture.RunAsync("status", fixture.AuditId, "--json");
        var audit = JsonNode.Parse(json.Output)!;
        Assert.Equal(fixture.AuditId, audit["id"]!.GetValue<string>());
        Assert.Equal(1.0, audit["progress"]!.GetValue<double>());
    }

    [Fact]
    public async Task Submit_WithAnUnknownProfile_ShowsTheProblemsFieldError_AndExits1()
    {
        var run = await fixture.RunAsync("submit", "--model", fixture.ModelPath, "--profile", "no-such-profile");
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("error 400", run.Output, StringComparison.Ordinal);
        Assert.Contains("profileId:", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Status_OfAnotherTenantsAudit_IsNotFound_AndExits1()
    {
        var other = new Dictionary<string, string?>(fixture.Environment) { ["AUDIT_API_KEY"] = AuditService.OtherTenantKey };
        var run = await fixture.RunAsync(other, "status", fixture.AuditId);
        Assert.True(run.ExitCode == 1, run.ToString());
        Assert.Contains("error 404", run.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(AuditService.OtherTenantKey, run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_WithoutAKey_ExplainWhereTheKeyComesFrom_AndExit2()
    {
        var run = await fixture.RunAsync(new Dictionary<string, string?> { ["AUDIT_URL"] = "http://localhost" }, "status", fixture.AuditId);
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.Contains("AUDIT_API_KEY", run.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigFile_SuppliesUrlAndKey()
    {
        var config = fixture.Write("config.json", System.Text.Encoding.UTF8.GetBytes(
            $$"""{ "url": "http://localhost", "apiKey": "{{AuditService.ComplianceKey}}" }"""));
        var run = await fixture.RunAsync(new Dictionary<string, string?>(), "status", fixture.AuditId, "--config", config);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("succeeded", run.Output, StringComparison.Ordinal);

        var missing = await fixture.RunAsync(new Dictionary<string, string?>(), "status", fixture.AuditId, "--config", config + ".missing");
        Assert.Equal(2, missing.ExitCode);
    }

    [Fact]
    public async Task Submit_WithAnArtifactIdThatIsNotAFile_SendsTheId()
    {
        var upload = await fixture.RunAsync("upload", fixture.ModelPath, "--kind", "model");
        var run = await fixture.RunAsync("submit", "--model", upload.Output.Trim(), "--profile", ServiceFixture.QuickProfile, "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var audit = JsonNode.Parse(run.Output)!;
        Assert.Equal(upload.Output.Trim(), audit["modelArtifactId"]!.GetValue<string>());

        var neither = await fixture.RunAsync("submit", "--model", "no/such/file.onnx", "--profile", ServiceFixture.QuickProfile);
        Assert.Equal(2, neither.ExitCode);
    }

    [Fact]
    public async Task UnreachableService_Exits2()
    {
        var run = await CliRunner.RunAsync(null, new Dictionary<string, string?> { ["AUDIT_API_KEY"] = "k" }, fixture.Directory, "status", "aud_x", "--url", "http://127.0.0.1:9");
        Assert.True(run.ExitCode == 2, run.ToString());
        Assert.DoesNotContain("\"k\"", run.Output, StringComparison.Ordinal);
    }
}
