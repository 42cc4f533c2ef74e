using System.Collections.Concurrent;
using System.Globalization;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Domain.Audits;
using Audit.Domain.Findings;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Audit.Api.Tests.Hardening;

/// <summary>
/// The claim protocol that lets any number of workers (in any number of processes) share one database: every queued
/// audit is claimed by exactly one worker, a lapsed lease is taken over, only the lease holder can finish, and the
/// report of an audit is issued by one process at a time.
/// </summary>
public sealed class WorkerClaimTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-01-01T00:00:00Z", CultureInfo.InvariantCulture);

    [Fact]
    public async Task ManyWorkersDrainingManyAudits_ClaimEachAuditExactlyOnce()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        var submitted = new HashSet<string>();
        for (int i = 0; i < 12; i++)
        {
            submitted.Add((await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>());
        }

        AuditRepository queue = factory.Services.GetRequiredService<AuditRepository>();
        var claims = new ConcurrentBag<(string Worker, string Audit)>();
        await Task.WhenAll(Enumerable.Range(0, 5).Select(w => Task.Run(async () =>
        {
            // Each worker claims until the queue is empty, as the run loop does (minus running the audit).
            while (await queue.TryClaimAsync($"worker-{w}", Now, TimeSpan.FromMinutes(1), CancellationToken.None) is { } row)
            {
                claims.Add(($"worker-{w}", row.Id));
            }
        })));

        Assert.Equal(submitted.Count, claims.Count);
        Assert.Equal(submitted.Order(), claims.Select(c => c.Audit).Order());
    }

    [Fact]
    public async Task AWorkerWhoseLeaseLapsed_CannotFinish_AndTheNewHolderFinishesOnce()
    {
        using var factory = new AuditApiFactory(worker: false);
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
        AuditRepository queue = factory.Services.GetRequiredService<AuditRepository>();

        AuditRow first = (await queue.TryClaimAsync("killed", Now, TimeSpan.FromSeconds(30), CancellationToken.None))!;
        Assert.Null(await queue.TryClaimAsync("other", Now.AddSeconds(29), TimeSpan.FromSeconds(30), CancellationToken.None));
        AuditRow second = (await queue.TryClaimAsync("successor", Now.AddSeconds(31), TimeSpan.FromSeconds(30), CancellationToken.None))!;

        Assert.Equal(id, first.Id);
        Assert.Equal(id, second.Id);
        Assert.Equal(2, second.Attempts);
        Assert.Null(await queue.CompleteAsync(id, a => a.Succeed("killed", Verdict.Pass, Now.AddSeconds(32)), [], [], [], CancellationToken.None));
        Assert.Equal(AuditStatus.Succeeded, await queue.CompleteAsync(id, a => a.Succeed("successor", Verdict.Pass, Now.AddSeconds(33)), [], [], [], CancellationToken.None));
        Assert.Null(await queue.CompleteAsync(id, a => a.Succeed("successor", Verdict.Pass, Now.AddSeconds(34)), [], [], [], CancellationToken.None));
        Assert.Null(await queue.TryClaimAsync("late", Now.AddHours(1), TimeSpan.FromSeconds(30), CancellationToken.None));
    }

    [Fact]
    public async Task TheReportIssuingLease_IsHeldByOneProcess_UntilReleasedOrLapsed()
    {
        using var factory = new AuditApiFactory(worker: false);
        ReportIssuingClaims claims = factory.Services.GetRequiredService<ReportIssuingClaims>();
        TimeSpan lease = TimeSpan.FromSeconds(10);

        Assert.True(await claims.TryAcquireAsync("aud_1", "worker", Now, lease, CancellationToken.None));
        Assert.False(await claims.TryAcquireAsync("aud_1", "api", Now.AddSeconds(9), lease, CancellationToken.None));
        Assert.True(await claims.TryAcquireAsync("aud_2", "api", Now.AddSeconds(9), lease, CancellationToken.None));
        Assert.True(await claims.RenewAsync("aud_1", "worker", Now.AddSeconds(9), lease, CancellationToken.None));
        Assert.False(await claims.TryAcquireAsync("aud_1", "api", Now.AddSeconds(18), lease, CancellationToken.None));

        // The holder was killed: its lease lapses and another process takes over; the old holder can no longer renew.
        Assert.True(await claims.TryAcquireAsync("aud_1", "api", Now.AddSeconds(20), lease, CancellationToken.None));
        Assert.False(await claims.RenewAsync("aud_1", "worker", Now.AddSeconds(21), lease, CancellationToken.None));
        await claims.ReleaseAsync("aud_1", "worker", CancellationToken.None);
        Assert.False(await claims.TryAcquireAsync("aud_1", "third", Now.AddSeconds(21), lease, CancellationToken.None));
        await claims.ReleaseAsync("aud_1", "api", CancellationToken.None);
        Assert.True(await claims.TryAcquireAsync("aud_1", "third", Now.AddSeconds(21), lease, CancellationToken.None));
    }

    [Theory]
    [InlineData("false", "1", 0)]
    [InlineData("true", "1", 1)]
    [InlineData("true", "3", 3)]
    public void TheApi_RunsConcurrencyWorkers_OnlyWhenEnabled(string enabled, string concurrency, int expected)
    {
        using var factory = new AuditApiFactory(settings: new Dictionary<string, string?>
        {
            ["Audit:Worker:Enabled"] = enabled,
            ["Audit:Worker:Concurrency"] = concurrency,
        });

        int workers = factory.Services.GetServices<IHostedService>().Count(s => s is Features.Audits.Running.AuditWorker);

        Assert.Equal(expected, workers);
    }
}
