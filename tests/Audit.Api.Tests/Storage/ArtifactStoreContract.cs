using System.Security.Cryptography;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Tests.Hardening;

namespace Audit.Api.Tests.Storage;

/// <summary>
/// The storage rules every provider keeps, run once per provider: content addressing, staging that is never visible
/// under a content key, concurrent uploads of the same bytes, the delete-versus-upload race, streamed large objects.
/// </summary>
public abstract class ArtifactStoreContract : IDisposable
{
    private readonly List<IDisposable> _owned = [];

    /// <summary>A new, empty storage (skips the test when the provider is not available here).</summary>
    protected abstract Task<IBlobStorage> CreateStorageAsync();

    /// <summary>A second view of the same storage, as another process would open it; null where one process owns it.</summary>
    protected abstract IBlobStorage? SecondProcessView(IBlobStorage storage);

    public void Dispose()
    {
        foreach (IDisposable owned in Enumerable.Reverse(_owned))
        {
            owned.Dispose();
        }

        GC.SuppressFinalize(this);
    }

    [SkippableFact]
    public async Task Save_ThenRead_ReturnsTheSameBytesUnderTheirHash()
    {
        ArtifactStore store = await StoreAsync();
        byte[] content = RandomBytes(300_000, seed: 1);
        string sha256 = Convert.ToHexStringLower(SHA256.HashData(content));

        StoredBlob blob = await store.SaveAsync(new MemoryStream(content), content.Length, CancellationToken.None);

        Assert.Equal(new StoredBlob(sha256, content.Length), blob);
        Assert.True(await store.ExistsAsync(sha256, CancellationToken.None));
        Assert.Equal(content, await store.ReadAllBytesAsync(sha256, content.Length, CancellationToken.None));
        await using (Stream stream = (await store.OpenReadAsync(sha256, content.Length, CancellationToken.None))!)
        {
            // Ranges: a seek into the middle reads from there.
            stream.Seek(123_456, SeekOrigin.Begin);
            byte[] tail = new byte[1000];
            await stream.ReadExactlyAsync(tail);
            Assert.Equal(content.AsSpan(123_456, 1000).ToArray(), tail);
        }

        using LocalBlob local = (await store.OpenLocalAsync(sha256, content.Length, CancellationToken.None))!;
        Assert.Equal(content, await File.ReadAllBytesAsync(local.Path));
    }

    [SkippableFact]
    public async Task Delete_RemovesTheBytes_AndReadersSeeThemGone()
    {
        ArtifactStore store = await StoreAsync();
        byte[] content = RandomBytes(5000, seed: 2);
        StoredBlob blob = await store.SaveAsync(new MemoryStream(content), content.Length, CancellationToken.None);

        await store.DeleteAsync(blob.Sha256, CancellationToken.None);
        await store.DeleteAsync(blob.Sha256, CancellationToken.None);

        Assert.False(await store.ExistsAsync(blob.Sha256, CancellationToken.None));
        Assert.Null(await store.OpenReadAsync(blob.Sha256, blob.SizeBytes, CancellationToken.None));
        Assert.Null(await store.ReadAllBytesAsync(blob.Sha256, blob.SizeBytes, CancellationToken.None));
        Assert.Null(await store.OpenLocalAsync(blob.Sha256, blob.SizeBytes, CancellationToken.None));
    }

    [SkippableFact]
    public async Task Staged_IsNeverVisibleUnderItsContentKey_AndARejectedUploadLeavesNothing()
    {
        ArtifactStore store = await StoreAsync();
        byte[] content = RandomBytes(70_000, seed: 3);
        string staging;
        string sha256;
        using (StagedBlob staged = await store.StageAsync(new MemoryStream(content), content.Length, CancellationToken.None))
        {
            staging = staged.Path;
            sha256 = staged.Sha256;
            Assert.Equal(content, await File.ReadAllBytesAsync(staged.Path));
            Assert.False(await store.ExistsAsync(sha256, CancellationToken.None));
        }

        Assert.False(File.Exists(staging));
        Assert.False(await store.ExistsAsync(sha256, CancellationToken.None));
        await Assert.ThrowsAsync<PayloadTooLargeException>(() => store.StageAsync(new MemoryStream(content), content.Length - 1, CancellationToken.None));
        Assert.DoesNotContain(Directory.GetFiles(store.IncomingDirectory), f => !Path.GetFileName(f).StartsWith('.'));
    }

    [SkippableFact]
    public async Task ConcurrentUploadsOfTheSameBytes_StoreOneIntactObject()
    {
        IBlobStorage storage = await CreateStorageAsync();
        var stores = new[] { Own(new ArtifactStore(storage)), Own(new ArtifactStore(SecondProcessView(storage) ?? storage)) };
        byte[] content = RandomBytes(2 * 1024 * 1024, seed: 4);

        StoredBlob[] blobs = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            using StagedBlob staged = await stores[i % 2].StageAsync(new MemoryStream(content), content.Length, CancellationToken.None);
            return await stores[i % 2].CommitAsync(staged, CancellationToken.None);
        })));

        Assert.Single(blobs.Distinct());
        Assert.Equal(content, await stores[1].ReadAllBytesAsync(blobs[0].Sha256, content.Length, CancellationToken.None));
        Assert.DoesNotContain(Directory.GetFiles(stores[0].IncomingDirectory), f => !Path.GetFileName(f).StartsWith('.'));
    }

    [SkippableFact]
    public async Task DeleteAfterAnUploadsCommit_IsUndoneByTheUploadsEnsure_SoRecordedBytesStay()
    {
        // The interleaving the content lock cannot see across processes: upload U commits, a delete D (its reference
        // check ran before U's row existed) removes the bytes, then U records its row and ensures the bytes.
        IBlobStorage storage = await CreateStorageAsync();
        ArtifactStore uploader = Own(new ArtifactStore(storage));
        ArtifactStore deleter = Own(new ArtifactStore(SecondProcessView(storage) ?? storage));
        byte[] content = RandomBytes(100_000, seed: 5);
        using StagedBlob staged = await uploader.StageAsync(new MemoryStream(content), content.Length, CancellationToken.None);

        await deleter.SaveAsync(new MemoryStream(content), content.Length, CancellationToken.None);
        StoredBlob blob = await uploader.CommitAsync(staged, CancellationToken.None);
        await deleter.DeleteAsync(blob.Sha256, CancellationToken.None);
        await uploader.EnsureStoredAsync(staged, CancellationToken.None);

        Assert.Equal(content, await deleter.ReadAllBytesAsync(blob.Sha256, content.Length, CancellationToken.None));
    }

    [SkippableFact]
    public async Task UploadsAndDeletesOfTheSameBytesRacing_NeverLoseTheBytesOfARecordedUpload()
    {
        // Two "processes" share the storage; a lock stands in for the database's content lock (check+delete versus
        // insert+ensure), which is what the service takes (ArtifactRepository.InsertWithContentAsync / DeleteContentIfUnusedAsync).
        IBlobStorage storage = await CreateStorageAsync();
        ArtifactStore a = Own(new ArtifactStore(storage));
        ArtifactStore b = Own(new ArtifactStore(SecondProcessView(storage) ?? storage));
        byte[] content = RandomBytes(64 * 1024, seed: 6);
        string sha256 = Convert.ToHexStringLower(SHA256.HashData(content));
        using var database = new SemaphoreSlim(1, 1);
        int references = 0;

        // As the service does: each process's own content lock around commit..ensure and check..delete, plus the shared one.
        async Task UploadAsync(ArtifactStore store)
        {
            using StagedBlob staged = await store.StageAsync(new MemoryStream(content), content.Length, CancellationToken.None);
            using IDisposable local = await store.LockContentAsync(CancellationToken.None);
            await store.CommitAsync(staged, CancellationToken.None);
            await database.WaitAsync();
            try
            {
                references++;
                await store.EnsureStoredAsync(staged, CancellationToken.None);
            }
            finally
            {
                database.Release();
            }
        }

        async Task DeleteAsync(ArtifactStore store)
        {
            using IDisposable local = await store.LockContentAsync(CancellationToken.None);
            await database.WaitAsync();
            try
            {
                if (references > 0)
                {
                    references--;
                }

                if (references == 0)
                {
                    await store.DeleteAsync(sha256, CancellationToken.None);
                }
            }
            finally
            {
                database.Release();
            }
        }

        for (int round = 0; round < 10; round++)
        {
            await Task.WhenAll(UploadAsync(a), DeleteAsync(b), UploadAsync(b), DeleteAsync(a));
            await database.WaitAsync();
            try
            {
                if (references > 0)
                {
                    Assert.Equal(content, await a.ReadAllBytesAsync(sha256, content.Length, CancellationToken.None));
                }
            }
            finally
            {
                database.Release();
            }
        }

        // One last upload that nothing deletes: its bytes must be there.
        await UploadAsync(a);
        Assert.Equal(content, await b.ReadAllBytesAsync(sha256, content.Length, CancellationToken.None));
    }

    [SkippableFact]
    public async Task ALargeObject_IsStoredAndReadStreamed_InBoundedMemory()
    {
        ArtifactStore store = await StoreAsync();
        const int size = 96 * 1024 * 1024;
        var source = new PatternStream(size);
        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = baseline;
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
                await Task.Delay(2);
            }
        });

        StoredBlob blob = await store.SaveAsync(source, size, CancellationToken.None);
        string sha256;
        using (LocalBlob local = (await store.OpenLocalAsync(blob.Sha256, size, CancellationToken.None))!)
        {
            Assert.Equal(size, new FileInfo(local.Path).Length);
        }

        await using (Stream stream = (await store.OpenReadAsync(blob.Sha256, size, CancellationToken.None))!)
        {
            sha256 = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream));
        }

        await sampling.CancelAsync();
        await sampler;

        Assert.Equal(blob.Sha256, sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(PatternStream.All(size))), sha256);
        long growth = peak - baseline;
        Assert.True(growth < 32L * 1024 * 1024, $"managed memory rose by {growth} bytes while a {size}-byte object was stored and read");
    }

    protected async Task<ArtifactStore> StoreAsync() => Own(new ArtifactStore(await CreateStorageAsync()));

    protected T Own<T>(T owned)
        where T : IDisposable
    {
        _owned.Add(owned);
        return owned;
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        byte[] bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A long, deterministic, non-seekable source that never exists in memory whole.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public static byte[] All(int length)
        {
            byte[] all = new byte[length];
            for (int i = 0; i < length; i++)
            {
                all[i] = At(i);
            }

            return all;
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            for (int i = 0; i < n; i++)
            {
                buffer[offset + i] = At(_position + i);
            }

            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private static byte At(long i) => (byte)((i * 31) ^ (i >> 11));
    }
}

[Collection(AloneCollection.Name)]
public sealed class FileSystemArtifactStoreTests : ArtifactStoreContract
{
    private readonly Support.TempDirectory _directory;

    public FileSystemArtifactStoreTests() => _directory = Own(new Support.TempDirectory());

    protected override Task<IBlobStorage> CreateStorageAsync() => Task.FromResult<IBlobStorage>(new FileSystemBlobStorage(_directory.Path));

    /// <summary>One process owns a data directory on the file system (a second would clear its incoming folder).</summary>
    protected override IBlobStorage? SecondProcessView(IBlobStorage storage) => null;

    [Fact]
    public async Task StoredBlobs_KeepTheirPathsUnderTheDataDirectory()
    {
        ArtifactStore store = await StoreAsync();
        StoredBlob blob = await store.SaveAsync(new MemoryStream([1, 2, 3]), 3, CancellationToken.None);

        Assert.True(File.Exists(Path.Combine(_directory.Path, "artifacts", "sha256", blob.Sha256[..2], blob.Sha256)));
        Assert.Equal(Path.Combine(_directory.Path, "artifacts", "sha256", "incoming"), store.IncomingDirectory);
    }
}

[Collection(AloneCollection.Name)]
public sealed class S3ArtifactStoreTests : ArtifactStoreContract
{
    private readonly Support.TempDirectory _scratch;
    private string? _bucket;

    public S3ArtifactStoreTests() => _scratch = Own(new Support.TempDirectory());

    protected override async Task<IBlobStorage> CreateStorageAsync()
    {
        S3TestServer.SkipUnlessAvailable();
        _bucket ??= await S3TestServer.CreateBucketAsync();
        return Own(new S3BlobStorage(S3TestServer.Options(_bucket), _scratch.Path));
    }

    protected override IBlobStorage? SecondProcessView(IBlobStorage storage) =>
        Own(new S3BlobStorage(S3TestServer.Options(_bucket!), _scratch.Path));

    [SkippableFact]
    public async Task WrongCredentials_FailWithAnErrorThatNamesTheSetting()
    {
        S3TestServer.SkipUnlessAvailable();
        string bucket = await S3TestServer.CreateBucketAsync();
        // s3rver checks the access key id, not SigV4 signatures, so the wrong credential here is the key id.
        using var storage = new S3BlobStorage(S3TestServer.Options(bucket, accessKey: "NOT-A-KEY"), _scratch.Path);
        var store = new ArtifactStore(storage);

        BlobStorageException error = await Assert.ThrowsAsync<BlobStorageException>(
            () => store.SaveAsync(new MemoryStream([1, 2, 3]), 3, CancellationToken.None));

        Assert.Contains("Audit:Storage:S3:AccessKey and SecretKey", error.Message, StringComparison.Ordinal);
        Assert.False(await storage.IsWritableAsync(CancellationToken.None));
    }

    [SkippableFact]
    public async Task AMissingBucket_FailsWithAnErrorThatNamesTheBucketSetting()
    {
        S3TestServer.SkipUnlessAvailable();
        using var storage = new S3BlobStorage(S3TestServer.Options("no-such-bucket-" + Guid.NewGuid().ToString("N")[..8]), _scratch.Path);

        BlobStorageException error = await Assert.ThrowsAsync<BlobStorageException>(
            () => new ArtifactStore(storage).SaveAsync(new MemoryStream([1]), 1, CancellationToken.None));

        Assert.Contains("Audit:Storage:S3:Bucket", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task AProcessKilledMidUpload_LeavesScratchThatTheNextStartRemoves_ButNotALiveProcesssScratch()
    {
        S3TestServer.SkipUnlessAvailable();
        string bucket = await S3TestServer.CreateBucketAsync();
        string dead = Path.Combine(_scratch.Path, "dead-process");
        Directory.CreateDirectory(dead);
        await File.WriteAllBytesAsync(Path.Combine(dead, "half-upload"), new byte[1000]);
        await File.WriteAllBytesAsync(Path.Combine(dead, ".owner"), []);
        using var alive = new S3BlobStorage(S3TestServer.Options(bucket), _scratch.Path);
        await File.WriteAllBytesAsync(Path.Combine(alive.ScratchDirectory, "in-flight"), new byte[10]);

        using var next = new S3BlobStorage(S3TestServer.Options(bucket), _scratch.Path);

        Assert.False(Directory.Exists(dead));
        Assert.True(File.Exists(Path.Combine(alive.ScratchDirectory, "in-flight")));
    }
}
