using System.Text;
using System.Text.Json;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Transparency;

public sealed class TransparencyLogTests
{
    [Fact]
    public async Task Entries_SurviveARestart_AndKeepTheirIndexes()
    {
        using var directory = new TempDirectory();
        using (var store = new FileTransparencyLogStore(directory.Path))
        {
            Assert.Equal(0, await store.AppendAsync("a"u8.ToArray(), CancellationToken.None));
            Assert.Equal(1, await store.AppendAsync("b"u8.ToArray(), CancellationToken.None));
        }

        using var reopened = new FileTransparencyLogStore(directory.Path);
        Assert.Equal(2, await reopened.AppendAsync("c"u8.ToArray(), CancellationToken.None));
        var entries = await reopened.ReadAllAsync(CancellationToken.None);
        Assert.Equal(["a", "b", "c"], entries.Select(e => Encoding.UTF8.GetString(e)));
    }

    [Fact]
    public async Task TornFinalAppend_IsDiscarded_AndTheNextAppendTakesItsPlace()
    {
        using var directory = new TempDirectory();
        var path = await WriteTwoEntriesAsync(directory);

        // A crash mid-write: the last record lost its final bytes.
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^10]);

        using var reopened = new FileTransparencyLogStore(directory.Path);
        Assert.Equal(["first"], (await reopened.ReadAllAsync(CancellationToken.None)).Select(e => Encoding.UTF8.GetString(e)));
        Assert.Equal(1, await reopened.AppendAsync("third"u8.ToArray(), CancellationToken.None));
    }

    [Fact]
    public async Task DamageBeforeTheEnd_IsReportedAsCorruption()
    {
        using var directory = new TempDirectory();
        var path = await WriteTwoEntriesAsync(directory);

        var bytes = File.ReadAllBytes(path);
        bytes[5] ^= 0xFF; // inside the first entry
        File.WriteAllBytes(path, bytes);

        using var reopened = new FileTransparencyLogStore(directory.Path);
        await Assert.ThrowsAsync<TransparencyLogCorruptException>(() => reopened.ReadAllAsync(CancellationToken.None));
    }

    [Fact]
    public async Task TreeHeads_AreSigned_AndProofsAgreeWithThem()
    {
        using var directory = new TempDirectory();
        using var services = new ReportServices(directory.Path);
        for (var i = 0; i < 5; i++)
        {
            await services.Log.AppendAsync(Encoding.UTF8.GetBytes($"statement {i}"), CancellationToken.None);
        }

        var early = await services.Log.GetTreeHeadAsync(CancellationToken.None);
        for (var i = 5; i < 12; i++)
        {
            await services.Log.AppendAsync(Encoding.UTF8.GetBytes($"statement {i}"), CancellationToken.None);
        }

        var late = await services.Log.GetTreeHeadAsync(CancellationToken.None);
        Assert.Equal(5, early.TreeSize);
        Assert.Equal(12, late.TreeSize);

        // The tree head's COSE signature verifies with the published certificate and states the same size and root.
        var payload = CoseEnvelope.Verify(Convert.FromBase64String(late.Signature), services.Pki.SigningCertificates);
        Assert.NotNull(payload);
        var statement = JsonSerializer.Deserialize<TreeHeadStatement>(payload);
        Assert.Equal(late.RootHash, statement!.RootHash);

        var inclusion = await services.Log.GetInclusionProofAsync(3, late.TreeSize, CancellationToken.None);
        Assert.True(Rfc9162Verifier.VerifyInclusion(
            3, late.TreeSize, Rfc9162Verifier.Leaf("statement 3"u8.ToArray()),
            [.. inclusion.AuditPath.Select(Convert.FromHexString)], Convert.FromHexString(late.RootHash)));

        var consistency = await services.Log.GetConsistencyProofAsync(early.TreeSize, late.TreeSize, CancellationToken.None);
        Assert.True(Rfc9162Verifier.VerifyConsistency(
            early.TreeSize, late.TreeSize, Convert.FromHexString(early.RootHash), Convert.FromHexString(late.RootHash),
            [.. consistency.Path.Select(Convert.FromHexString)]));

        await Assert.ThrowsAsync<TransparencyLogRangeException>(() => services.Log.GetInclusionProofAsync(12, 12, CancellationToken.None));
        await Assert.ThrowsAsync<TransparencyLogRangeException>(() => services.Log.GetConsistencyProofAsync(6, 13, CancellationToken.None));
    }

    [Fact]
    public async Task TamperedTreeHead_DoesNotVerify()
    {
        using var directory = new TempDirectory();
        using var services = new ReportServices(directory.Path);
        await services.Log.AppendAsync("x"u8.ToArray(), CancellationToken.None);
        var head = await services.Log.GetTreeHeadAsync(CancellationToken.None);

        Assert.NotNull(services.Log.VerifyTreeHead(head));
        Assert.Null(services.Log.VerifyTreeHead(head with { TreeSize = 2 }));
        Assert.Null(services.Log.VerifyTreeHead(head with { RootHash = new string('0', 64) }));
    }

    /// <summary>A closed log holding "first" and "second"; returns the log file's path.</summary>
    private static async Task<string> WriteTwoEntriesAsync(TempDirectory directory)
    {
        using (var store = new FileTransparencyLogStore(directory.Path))
        {
            await store.AppendAsync("first"u8.ToArray(), CancellationToken.None);
            await store.AppendAsync("second"u8.ToArray(), CancellationToken.None);
        }

        return Path.Combine(directory.Path, "transparency", "log.bin");
    }
}
