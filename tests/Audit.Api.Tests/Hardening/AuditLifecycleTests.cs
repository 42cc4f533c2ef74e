using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Domain.Findings;
using Audit.Evaluators.Probes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.Hardening;

/// <summary>
/// Audits that cannot end normally still end: non-finite figures are stored, results that cannot be stored fail
/// the audit, a crash loop stops at the attempt limit, and a cancel request wins over a stuck or vanished worker.
/// The model-inventory probe of trojan-scan (the only one that runs without a dataset) is replaced by a script.
/// </summary>
public sealed class AuditLifecycleTests
{
    [Fact]
    public async Task Findings_WithNaNAndInfinity_AreStoredAsText_AndTheAuditSucceedsOnTheFirstAttempt()
    {
        using AuditApiFactory factory = WithProbe((_, _) => Task.FromResult(new ProbeOutcome(
            Verdict.Fail,
            double.PositiveInfinity,
            "A statistic overflowed.",
            new JsonObject
            {
                ["statistic"] = double.NaN,
                ["ratio"] = double.NegativeInfinity,
                ["perClass"] = new JsonArray(1.5, double.PositiveInfinity, float.NaN),
                ["nested"] = new JsonObject { ["fine"] = 2.0 },
            },
            [])));
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);

        JsonNode done = await client.WaitForAuditAsync(await SubmitAsync(client), TimeSpan.FromSeconds(60));

        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        JsonNode finding = Assert.Single(done["findings"]!.AsArray(), f => f!["probe"]!.GetValue<string>() == "model-inventory")!;
        Assert.Null(finding["score"]);
        JsonNode details = finding["details"]!;
        Assert.Equal(("NaN", "-Infinity", "Infinity"), (details["statistic"]!.GetValue<string>(), details["ratio"]!.GetValue<string>(), details["nonFiniteScore"]!.GetValue<string>()));
        Assert.Equal("[1.5,\"Infinity\",\"NaN\"]", details["perClass"]!.ToJsonString());
        Assert.Equal(2.0, details["nested"]!["fine"]!.GetValue<double>());
        Assert.Equal(1, (await RowAsync(factory, done["id"]!.GetValue<string>())).Attempts);
        HttpResponseMessage report = await client.GetAsync($"/api/v1/audits/{done["id"]!.GetValue<string>()}/report");
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        Assert.Equal("application/pdf", report.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Results_ThatCannotBeStored_FailTheAuditWithTheReason_InsteadOfRetryingIt()
    {
        // A summary the findings table refuses (NOT NULL): storing the success throws inside the transaction.
        using AuditApiFactory factory = WithProbe((_, _) => Task.FromResult(new ProbeOutcome(Verdict.Pass, 0.1, null!, new JsonObject(), [])));
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);

        JsonNode done = await client.WaitForAuditAsync(await SubmitAsync(client), TimeSpan.FromSeconds(60));

        Assert.Equal("failed", done["status"]!.GetValue<string>());
        Assert.StartsWith("The audit's results could not be stored", done["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Empty(done["findings"]!.AsArray());
        Assert.Equal(1, (await RowAsync(factory, done["id"]!.GetValue<string>())).Attempts);
    }

    [Fact]
    public async Task FailedAuditError_IsStoredWithoutServerPaths()
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        string id;
        using (var before = new AuditApiFactory(data, worker: false))
        {
            id = await SubmitAsync(before.ClientFor(AuditApiFactory.AcmeCompliance));
        }

        // The model's blob vanished and no stored inventory remains: reading it fails with a message naming its path.
        string sha256 = await ScalarAsync(data, "SELECT sha256 FROM artifacts WHERE kind = 'model'");
        await ExecuteAsync(data, "UPDATE artifacts SET summary_json = NULL");
        foreach (string blob in Directory.EnumerateFiles(data, "*", SearchOption.AllDirectories).Where(f => f.Contains(sha256, StringComparison.Ordinal)))
        {
            File.Delete(blob);
        }

        using var after = new AuditApiFactory(data, worker: true);
        JsonNode done = await after.ClientFor(AuditApiFactory.AcmeCompliance).WaitForAuditAsync(id, TimeSpan.FromSeconds(60));

        Assert.Equal("failed", done["status"]!.GetValue<string>());
        // The stored column, not only the response: exports, logs of the row and future readers never see the layout.
        string stored = (await RowAsync(after, id)).Error!;
        Assert.Contains(sha256, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(data, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(Path.GetTempPath().TrimEnd('/'), stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProbeThatBreaksNamingAServerPath_IsInconclusive_WithTheReasonStoredWithoutThePath()
    {
        string? dataDirectory = null;
        using AuditApiFactory factory = WithProbe((_, _) => throw new IOException($"Cannot read '{dataDirectory}/artifacts/ab/cdef.bin': disk error"));
        dataDirectory = factory.DataDirectory;
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);

        JsonNode done = await client.WaitForAuditAsync(await SubmitAsync(client), TimeSpan.FromSeconds(60));

        (IReadOnlyList<ControlResultRow> _, IReadOnlyList<FindingRow> findings) = await factory.Services.GetRequiredService<AuditRepository>()
            .ResultsAsync(done["id"]!.GetValue<string>(), CancellationToken.None);
        string summary = Assert.Single(findings, f => f.Probe == "model-inventory").Summary;
        Assert.Contains("cdef.bin", summary, StringComparison.Ordinal);
        Assert.DoesNotContain(dataDirectory, summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CrashLoopingAudit_EndsFailedAtTheAttemptLimit_WithTheLastRecordedError()
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        string id;
        using (var before = new AuditApiFactory(data, worker: false))
        {
            id = await SubmitAsync(before.ClientFor(AuditApiFactory.AcmeCompliance));
        }

        // What three attempts that each died mid-run leave: running, a lapsed lease, the last attempt's error.
        await ExecuteAsync(data, $"""
            UPDATE audits SET status = 'running', lease_owner = 'dead-worker', lease_expires_at = '2000-01-01T00:00:00.0000000+00:00',
                attempts = 3, error = 'The audit''s results could not be stored: disk full', started_at = '2000-01-01T00:00:00.0000000+00:00' WHERE id = '{id}';
            """);

        using var after = new AuditApiFactory(data, worker: true, settings: new Dictionary<string, string?> { ["Audit:Worker:MaxAttempts"] = "3" });
        JsonNode done = await after.ClientFor(AuditApiFactory.AcmeCompliance).WaitForAuditAsync(id, TimeSpan.FromSeconds(30));

        Assert.Equal("failed", done["status"]!.GetValue<string>());
        Assert.Equal("Gave up after 3 attempts. Last error: The audit's results could not be stored: disk full", done["error"]!.GetValue<string>());
        Assert.Equal(3, (await RowAsync(after, id)).Attempts);
    }

    [Fact]
    public async Task Cancel_OfARunWhoseProbeIsStuck_EndsItCancelledWithoutWaitingForTheProbe()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new SemaphoreSlim(0);
        using AuditApiFactory factory = WithProbe(async (_, _) =>
        {
            entered.TrySetResult();
            // Stuck: ignores the cancellation token, as native code in a probe can.
            await release.WaitAsync(CancellationToken.None);
            return new ProbeOutcome(Verdict.Pass, 0.1, "finished late", new JsonObject(), []);
        });
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string id = await SubmitAsync(client);
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(60));

        HttpResponseMessage cancel = await client.PostAsync($"/api/v1/audits/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("running", (await cancel.JsonAsync())["status"]!.GetValue<string>());

        // The lease (3 s in tests) is no longer renewed; once it lapses the worker's own heartbeat ends the audit.
        JsonNode done = await client.WaitForAuditAsync(id, TimeSpan.FromSeconds(30));
        Assert.Equal("cancelled", done["status"]!.GetValue<string>());
        Assert.Equal(0, release.CurrentCount);

        // The probe finally returns: its result is discarded, the cancellation stands.
        release.Release();
        await Task.Delay(TimeSpan.FromSeconds(1));
        JsonNode after = await (await client.GetAsync($"/api/v1/audits/{id}")).JsonAsync();
        Assert.Equal("cancelled", after["status"]!.GetValue<string>());
        Assert.Empty(after["findings"]!.AsArray());
    }

    [Fact]
    public async Task Cancel_OfARunWhoseWorkerIsGone_EndsItCancelledAtOnce()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string id = await SubmitAsync(client);
        await ExecuteAsync(factory.DataDirectory, $"""
            UPDATE audits SET status = 'running', lease_owner = 'dead-worker', lease_expires_at = '2000-01-01T00:00:00.0000000+00:00',
                attempts = 1, started_at = '2000-01-01T00:00:00.0000000+00:00' WHERE id = '{id}';
            """);

        HttpResponseMessage cancel = await client.PostAsync($"/api/v1/audits/{id}/cancel", null);

        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        Assert.Equal("cancelled", (await cancel.JsonAsync())["status"]!.GetValue<string>());
        await (await client.PostAsync($"/api/v1/audits/{id}/cancel", null)).AssertProblemAsync(HttpStatusCode.Conflict);
    }

    [Fact]
    public async Task CancelRequested_WhileItsWorkerDied_EndsCancelledAtTheNextClaim_NotRunAgain()
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        string id;
        using (var before = new AuditApiFactory(data, worker: false))
        {
            id = await SubmitAsync(before.ClientFor(AuditApiFactory.AcmeCompliance));
        }

        // The cancel was accepted while the worker was alive; then it died before noticing.
        await ExecuteAsync(data, $"""
            UPDATE audits SET status = 'running', lease_owner = 'dead-worker', lease_expires_at = '2000-01-01T00:00:00.0000000+00:00',
                attempts = 1, cancel_requested = 1, started_at = '2000-01-01T00:00:00.0000000+00:00' WHERE id = '{id}';
            """);

        int runs = 0;
        using AuditApiFactory after = WithProbe((_, _) =>
        {
            Interlocked.Increment(ref runs);
            return Task.FromResult(new ProbeOutcome(Verdict.Pass, 0.1, "ran", new JsonObject(), []));
        }, data);
        JsonNode done = await after.ClientFor(AuditApiFactory.AcmeCompliance).WaitForAuditAsync(id, TimeSpan.FromSeconds(30));

        Assert.Equal("cancelled", done["status"]!.GetValue<string>());
        Assert.Equal((0, 1), (runs, (await RowAsync(after, id)).Attempts));
    }

    private static AuditApiFactory WithProbe(Func<ProbeContext, CancellationToken, Task<ProbeOutcome>> run, string? dataDirectory = null) =>
        new(dataDirectory, services: services =>
        {
            foreach (ServiceDescriptor real in services.Where(d => d.ServiceType == typeof(IProbe) && d.ImplementationType == typeof(ModelInventoryProbe)).ToList())
            {
                services.Remove(real);
            }

            services.AddSingleton<IProbe>(new ScriptedProbe(new ModelInventoryProbe().Descriptor, run));
        });

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        return (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
    }

    private static async Task<AuditRow> RowAsync(AuditApiFactory factory, string id) =>
        (await factory.Services.GetRequiredService<AuditRepository>().FindAsync("acme", id, CancellationToken.None))!;

    private static async Task<string> ScalarAsync(string data, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(string data, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private sealed class ScriptedProbe(ProbeDescriptor descriptor, Func<ProbeContext, CancellationToken, Task<ProbeOutcome>> run) : IProbe
    {
        public ProbeDescriptor Descriptor { get; } = descriptor;

        public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken) => run(context, cancellationToken);
    }
}
