using System.Text.Json.Nodes;
using Audit.Api.Features.Audits.Running;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests;

/// <summary>A submitted audit starts at once, not at the worker's next poll.</summary>
public sealed class AuditQueueSignalTests
{
    [Fact]
    public async Task Next_CompletesOnlyForAnAuditQueuedAfterItWasRead()
    {
        var signal = new AuditQueueSignal();
        Task before = signal.Next;
        Assert.False(before.IsCompleted);

        signal.Queued();
        Task after = signal.Next;

        await before.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(after.IsCompleted);
    }

    [Fact]
    public async Task WaitAsync_ReturnsWhenSignalled_LongBeforeThePollInterval()
    {
        var signal = new AuditQueueSignal();
        Task waiting = AuditQueueSignal.WaitAsync(signal.Next, TimeSpan.FromHours(1), TimeProvider.System, CancellationToken.None);
        Assert.False(waiting.IsCompleted);

        signal.Queued();

        await waiting.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task WaitAsync_Cancelled_Throws()
    {
        using var stop = new CancellationTokenSource();
        Task waiting = AuditQueueSignal.WaitAsync(new AuditQueueSignal().Next, TimeSpan.FromHours(1), TimeProvider.System, stop.Token);

        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task SubmittedAudits_RunAlthoughTheWorkerPollsOnlyHourly()
    {
        // With an hour between polls, only the signal can start these audits within the test's minute. The second
        // audit is submitted after the worker has come back to an empty queue, so it cannot ride on a first poll.
        using var factory = new AuditApiFactory(settings: new Dictionary<string, string?> { ["Audit:Worker:PollInterval"] = "01:00:00" });
        HttpClient client = factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TestModels.Conv2d, "model");

        foreach (int _ in new[] { 1, 2 })
        {
            string id = (await (await client.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" })).JsonAsync())["id"]!.GetValue<string>();
            JsonNode done = await client.WaitForAuditAsync(id, TimeSpan.FromSeconds(60));
            Assert.Equal("succeeded", done["status"]!.GetValue<string>());
        }
    }
}
