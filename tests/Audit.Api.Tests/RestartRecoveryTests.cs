using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests;

public sealed class RestartRecoveryTests
{
    [Fact]
    public async Task AuditLeftRunningByACrash_IsResumedAfterRestartFromAClean_State()
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        string id;
        using (var before = new AuditApiFactory(data, worker: false))
        {
            HttpClient client = before.ClientFor(AuditApiFactory.AcmeCompliance);
            string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
            id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        }

        // What a process killed mid-run leaves behind: running, a lapsed lease held by a dead worker, a partial finding.
        await ExecuteAsync(data, $"""
            UPDATE audits SET status = 'running', lease_owner = 'dead-worker', lease_expires_at = '2000-01-01T00:00:00.0000000+00:00',
                attempts = 1, progress = 0.5, started_at = '2000-01-01T00:00:00.0000000+00:00' WHERE id = '{id}';
            INSERT INTO findings (audit_id, seq, control_id, probe, verdict, score, summary, details_json)
                VALUES ('{id}', 0, 'stale', 'stale-probe', 'fail', 9, 'left by the crash', '{"{}"}');
            """);

        using var after = new AuditApiFactory(data, worker: true);
        JsonNode done = await after.ClientFor(AuditApiFactory.AcmeCompliance).WaitForAuditAsync(id);

        Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        Assert.DoesNotContain(done["findings"]!.AsArray(), f => f!["probe"]!.GetValue<string>() == "stale-probe");
        AuditRow row = (await after.Services.GetRequiredService<AuditRepository>().FindAsync("acme", id, CancellationToken.None))!;
        Assert.Equal(2, row.Attempts);
    }

    [Fact]
    public async Task AuditHeldByALiveWorker_IsNotClaimedByAnother()
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        using var factory = new AuditApiFactory(data, worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        await ExecuteAsync(data, $"UPDATE audits SET status = 'running', lease_owner = 'alive', lease_expires_at = '2999-01-01T00:00:00.0000000+00:00', attempts = 1 WHERE id = '{id}'");

        AuditRow? claimed = await factory.Services.GetRequiredService<AuditRepository>()
            .TryClaimAsync("intruder", DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(30), CancellationToken.None);

        Assert.Null(claimed);
    }

    [Fact]
    public async Task TwoWorkersRacingForOneQueuedAudit_OnlyOneClaimsIt()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" });
        AuditRepository queue = factory.Services.GetRequiredService<AuditRepository>();
        DateTimeOffset now = DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

        AuditRow?[] claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
            Task.Run(() => queue.TryClaimAsync($"worker-{i}", now, TimeSpan.FromMinutes(1), CancellationToken.None))));

        Assert.Single(claims, c => c is not null);
    }

    private static async Task ExecuteAsync(string data, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={Path.Combine(data, "audit.db")};Pooling=False");
        await connection.OpenAsync();
        await using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
