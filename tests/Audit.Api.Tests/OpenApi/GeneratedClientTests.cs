using System.Diagnostics;
using System.Net.ServerSentEvents;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Client;
using Audit.Client.Models;
using Audit.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Kiota.Abstractions;
using Microsoft.Kiota.Abstractions.Authentication;
using Microsoft.Kiota.Http.HttpClientLibrary;

namespace Audit.Api.Tests.OpenApi;

/// <summary>
/// The C# client Kiota generated from the OpenAPI document (clients/Audit.Client): it must stay in step with the
/// document the service serves, and it alone must be enough to run an audit from upload to verified report.
/// </summary>
public sealed class GeneratedClientTests : IDisposable
{
    private const string Regenerate = "Run scripts/generate-client.sh and commit clients/Audit.Client.";

    private readonly AuditApiFactory _factory = new(settings: new Dictionary<string, string?> { ["Audit:EventsPollInterval"] = "00:00:00.100" });

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task CommittedDocument_IsTheDocumentTheServiceServes()
    {
        JsonNode served = await (await _factory.CreateClient().GetAsync("/openapi/v1.json")).JsonAsync();
        // The script drops the servers entry: it names whichever port the service ran on.
        served.AsObject().Remove("servers");
        JsonNode committed = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(ClientDirectory, "openapi.json")))!;

        Assert.True(JsonNode.DeepEquals(served, committed), $"clients/Audit.Client/openapi.json differs from /openapi/v1.json. {Regenerate}");
    }

    [Fact]
    public async Task CommittedCode_IsWhatKiotaGeneratesFromTheCommittedDocument()
    {
        string output = Path.Combine(Path.GetTempPath(), "audit-tests", "client-" + Guid.NewGuid().ToString("N"));
        try
        {
            (int exitCode, string log) = await RunAsync("bash", Path.Combine(RepositoryRoot.Folder, "scripts", "generate-client.sh"), "--offline", "--output", output);
            Assert.True(exitCode == 0, "Kiota failed (dotnet tool restore installs it from .config/dotnet-tools.json):\n" + log);

            string committed = Path.Combine(ClientDirectory, "Generated");
            string[] expected = Files(output);
            Assert.Equal(expected, Files(committed));
            foreach (string file in expected)
            {
                Assert.True(
                    File.ReadAllText(Path.Combine(output, file)) == File.ReadAllText(Path.Combine(committed, file)),
                    $"Generated/{file} is not what Kiota makes of openapi.json. {Regenerate}");
            }
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    [Fact]
    public async Task GeneratedClient_AuthenticatesUploadsSubmitsFollowsEventsAndDownloadsASignedReport()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        CancellationToken ct = timeout.Token;
        AuditApiClient client = ClientFor(AuditApiFactory.AcmeCompliance);

        // Without a key the client gets the 401 problem the document describes, as a typed exception.
        ProblemDetails unauthenticated = await Assert.ThrowsAsync<ProblemDetails>(() => ClientFor(null).Api.V1.Audits.GetAsync(cancellationToken: ct));
        Assert.Equal(401, unauthenticated.Status);

        ArtifactResponse model = (await client.Api.V1.Artifacts.PostAsync(Form(Example("fashion-cnn-clean.onnx"), "model", "model.onnx"), cancellationToken: ct))!;
        ArtifactResponse dataset = (await client.Api.V1.Artifacts.PostAsync(Form(Example("fashion-mnist-1000.safetensors"), "dataset", "evidence.safetensors"), cancellationToken: ct))!;
        Assert.Equal(ArtifactResponse_kind.Model, model.Kind);
        Assert.Equal(ArtifactResponse_kind.Dataset, dataset.Kind);

        // A quick profile of the tenant's own: the inventory and accuracy probes take seconds on the example files.
        ProfileResponse profile = (await client.Api.V1.Profiles.PostAsync(QuickProfile(), cancellationToken: ct))!;
        AuditResponse submitted = (await client.Api.V1.Audits.PostAsync(
            new SubmitAuditRequest { ModelArtifactId = model.Id, DatasetArtifactId = dataset.Id, ProfileId = profile.Id }, cancellationToken: ct))!;
        Assert.Equal(AuditResponse_status.Queued, submitted.Status);

        // Kiota hands a text/event-stream answer over as the open response stream (it has no model for SSE); the
        // BCL's SseParser reads the events from it.
        List<SseItem<string>> events = [];
        await using (Stream stream = (await client.Api.V1.Audits[submitted.Id].Events.GetAsync(cancellationToken: ct))!)
        {
            await foreach (SseItem<string> item in SseParser.Create(stream).EnumerateAsync(ct))
            {
                events.Add(item);
            }
        }

        SseItem<string> last = events[^1];
        Assert.Equal("status", last.EventType);
        Assert.Equal("succeeded", JsonNode.Parse(last.Data)!["status"]!.GetValue<string>());
        string[] findingProbes = [.. events.Where(e => e.EventType == "finding").Select(e => JsonNode.Parse(e.Data)!["probe"]!.GetValue<string>())];
        Assert.Equal(["model-inventory", "accuracy"], findingProbes);
        // No "step" assertion: the stream polls the database, so a quick audit can finish between two polls and its
        // steps are never observed (LiveFindingsTests holds a probe to check steps and their order).

        AuditResponse done = (await client.Api.V1.Audits[submitted.Id].GetAsync(cancellationToken: ct))!;
        Assert.Equal(AuditResponse_status.Succeeded, done.Status);
        Assert.Equal(["model-inventory", "accuracy"], done.Findings!.Select(f => f.Probe));

        byte[] pdf;
        await using (Stream report = (await client.Api.V1.Audits[submitted.Id].Report.GetAsync(cancellationToken: ct))!)
        {
            using var buffer = new MemoryStream();
            await report.CopyToAsync(buffer, ct);
            pdf = buffer.ToArray();
        }

        Assert.StartsWith("%PDF-", Encoding.ASCII.GetString(pdf, 0, 5), StringComparison.Ordinal);
        // Signed: the service's own verification (through the same client) checks the signature and that it is this audit's.
        var verify = new MultipartBody();
        verify.AddOrReplacePart("file", "application/pdf", new MemoryStream(pdf), "report.pdf");
        VerificationResult verification = (await client.Api.V1.Verifications.PostAsync(verify, cancellationToken: ct))!;
        Assert.True(verification.Valid, string.Join("; ", verification.Checks!.Where(c => c.Passed != true).Select(c => $"{c.Name}: {c.Detail}")));
        Assert.Contains(verification.Checks!, c => c.Name == "signature" && c.Passed == true);
        Assert.Equal(submitted.Id, verification.Claims!.AuditId);
    }

    /// <summary>A client as a user would build it: Kiota's API-key provider and HTTP adapter over the factory's handler.</summary>
    private AuditApiClient ClientFor(string? apiKey)
    {
        // Kiota's API-key provider refuses plain http; the in-memory test server answers https addresses the same.
        HttpClient http = _factory.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("https://localhost") });
        IAuthenticationProvider authentication = apiKey is null
            ? new AnonymousAuthenticationProvider()
            : new ApiKeyAuthenticationProvider(apiKey, "X-Api-Key", ApiKeyAuthenticationProvider.KeyLocation.Header);
        var adapter = new HttpClientRequestAdapter(authentication, httpClient: http) { BaseUrl = "https://localhost" };
        return new AuditApiClient(adapter);
    }

    private static MultipartBody Form(byte[] content, string kind, string fileName)
    {
        var form = new MultipartBody();
        form.AddOrReplacePart("file", "application/octet-stream", new MemoryStream(content), fileName);
        form.AddOrReplacePart("kind", "text/plain", kind);
        return form;
    }

    private static ProfileDraft QuickProfile() => new()
    {
        Id = "client-quick",
        Version = "1.0.0",
        Title = "Quick check for the generated client",
        Regulation = "none",
        Description = "Inventory and accuracy only.",
        Controls =
        [
            new ControlDraft
            {
                Id = "inventory", Clause = "precondition", Title = "Model inventory", Evidence = [], Combine = "any-fail",
                Probes = [new ProbeDraft { Probe = "model-inventory", Threshold = 1 }],
            },
            new ControlDraft
            {
                Id = "accuracy", Clause = "accuracy", Title = "Accuracy on the owner's data", Evidence = ["labelled-dataset"], Combine = "any-fail",
                Probes = [new ProbeDraft { Probe = "accuracy", Parameters = new ProbeDraft_parameters { AdditionalData = { ["minimumAccuracy"] = 0.5 } } }],
            },
        ],
    };

    private static byte[] Example(string name) => File.ReadAllBytes(Path.Combine(RepositoryRoot.Folder, "examples", name));

    private static string[] Files(string root) =>
        [.. Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal)];

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = RepositoryRoot.Folder };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }

    private static string ClientDirectory => Path.Combine(RepositoryRoot.Folder, "clients", "Audit.Client");
}
