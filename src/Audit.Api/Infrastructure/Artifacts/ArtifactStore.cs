using System.Security.Cryptography;

namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>A blob stored by content: its SHA-256 (lowercase hex) and size.</summary>
public sealed record StoredBlob(string Sha256, long SizeBytes);

/// <summary>The upload was larger than <see cref="ArtifactOptions.MaxSizeBytes"/>.</summary>
public sealed class PayloadTooLargeException(long limit)
    : Exception($"The upload exceeds the limit of {limit} bytes.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// Content-addressed blobs (key <c>artifacts/sha256/ab/abcdef…</c>) in the configured <see cref="IBlobStorage"/>: a
/// folder under the data directory or an S3-compatible bucket. Uploads stream into a local scratch folder while
/// hashing (<see cref="StageAsync"/>), are validated there, and only an accepted one is stored under its hash
/// (<see cref="CommitAsync"/>): a reader never sees a half-written blob, the same bytes uploaded twice are stored once,
/// and a rejected upload never touches a stored blob another upload (any tenant's) relies on. Keys derive only from
/// hashes we computed: a client can never name one.
/// </summary>
/// <remarks>
/// Deleting content races with storing the same content (<see cref="LockContentAsync"/> serialises the two within one
/// process). Across processes (workers and APIs sharing a bucket) the rule is: a delete checks that no row refers to the
/// hash and removes the bytes inside one database transaction holding the content lock
/// (<c>ArtifactRepository.DeleteContentIfUnusedAsync</c>); an upload stores the bytes, then records its row and calls
/// <see cref="EnsureStoredAsync"/> inside one such transaction (<c>InsertWithContentAsync</c>), which stores the bytes
/// again from the still-staged copy if they are gone. The two transactions exclude each other, so either the delete
/// sees the new row and keeps the bytes, or it finished first and the upload puts them back before its row exists.
/// </remarks>
public sealed class ArtifactStore : IDisposable
{
    private const string Prefix = "artifacts/sha256/";

    private readonly SemaphoreSlim _contentLock = new(1, 1);
    private readonly IBlobStorage _storage;

    public ArtifactStore(IBlobStorage storage)
    {
        _storage = storage;
        Storage.OwnerOnly.CreateDirectory(storage.ScratchDirectory);
    }

    /// <summary>The local folder uploads are received into before they are accepted.</summary>
    public string IncomingDirectory => _storage.ScratchDirectory;

    /// <summary>Receives <paramref name="content"/> into the scratch folder, hashing it; 413 past <paramref name="maxSizeBytes"/>.</summary>
    public async Task<StagedBlob> StageAsync(Stream content, long maxSizeBytes, CancellationToken cancellationToken)
    {
        (string path, string sha256, long size) = await ReceiveAsync(content, maxSizeBytes, verifyAgainst: null, cancellationToken);
        return new StagedBlob(path, sha256, size);
    }

    /// <summary>
    /// Stores an accepted upload under its hash. If the blob is already stored with the same size (an earlier or a
    /// concurrent upload of the same bytes), the stored one is kept: equal hashes mean equal bytes. A stored object of
    /// another size can only be damage, and is replaced. The staged copy stays until the upload is disposed where the
    /// store copies rather than moves, so <see cref="EnsureStoredAsync"/> can still use it.
    /// </summary>
    public async Task<StoredBlob> CommitAsync(StagedBlob staged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(staged);
        string key = KeyFor(staged.Sha256);
        long? existing = await _storage.SizeAsync(key, cancellationToken);
        if (existing != staged.SizeBytes)
        {
            var checksum = new BlobChecksum(staged.Sha256, staged.SizeBytes);
            if (await _storage.PutFileAsync(key, staged.Path, checksum, replace: existing is not null, cancellationToken))
            {
                staged.Committed = true;
            }
        }

        return new StoredBlob(staged.Sha256, staged.SizeBytes);
    }

    /// <summary>
    /// Called after the row that refers to the blob is recorded: puts the bytes back if a delete in another process
    /// removed them between <see cref="CommitAsync"/> and the row's insert (see the remarks on this type).
    /// </summary>
    public async Task EnsureStoredAsync(StagedBlob staged, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(staged);
        string key = KeyFor(staged.Sha256);
        if (await _storage.SizeAsync(key, cancellationToken) == staged.SizeBytes)
        {
            return;
        }

        if (staged.Committed || !File.Exists(staged.Path))
        {
            throw new BlobStorageException($"The content {staged.Sha256} disappeared from the store right after it was stored.");
        }

        if (await _storage.PutFileAsync(key, staged.Path, new BlobChecksum(staged.Sha256, staged.SizeBytes), replace: true, cancellationToken))
        {
            staged.Committed = true;
        }
    }

    /// <summary>Stages and commits at once, for content that needs no validation.</summary>
    public async Task<StoredBlob> SaveAsync(Stream content, long maxSizeBytes, CancellationToken cancellationToken)
    {
        using StagedBlob staged = await StageAsync(content, maxSizeBytes, cancellationToken);
        return await CommitAsync(staged, cancellationToken);
    }

    /// <summary>Whether the blob is stored (with any size).</summary>
    public async Task<bool> ExistsAsync(string sha256, CancellationToken cancellationToken) =>
        await _storage.SizeAsync(KeyFor(sha256), cancellationToken) is not null;

    /// <summary>
    /// The stored bytes as a seekable stream, checked to have the size recorded for them; null when they are gone.
    /// The caller streams it (to a client, with ranges); nothing is loaded whole.
    /// </summary>
    public async Task<Stream?> OpenReadAsync(string sha256, long expectedSize, CancellationToken cancellationToken)
    {
        Stream? stream = await _storage.OpenReadAsync(KeyFor(sha256), cancellationToken);
        if (stream is not null && stream.Length != expectedSize)
        {
            await stream.DisposeAsync();
            throw new BlobStorageException($"The stored content {sha256} has {stream.Length} bytes; {expectedSize} were recorded.");
        }

        return stream;
    }

    /// <summary>A small blob (evidence image) read whole and checked against its hash; null when it is gone.</summary>
    public async Task<byte[]?> ReadAllBytesAsync(string sha256, long maxSizeBytes, CancellationToken cancellationToken)
    {
        await using Stream? stream = await _storage.OpenReadAsync(KeyFor(sha256), cancellationToken);
        if (stream is null)
        {
            return null;
        }

        if (stream.Length > maxSizeBytes)
        {
            throw new BlobStorageException($"The stored content {sha256} is larger than the {maxSizeBytes} bytes expected of it.");
        }

        byte[] content = new byte[stream.Length];
        await stream.ReadExactlyAsync(content, cancellationToken);
        if (!Convert.ToHexStringLower(SHA256.HashData(content)).Equals(sha256, StringComparison.Ordinal))
        {
            throw new BlobStorageException($"The stored content {sha256} does not match its hash.");
        }

        return content;
    }

    /// <summary>
    /// The blob as a file on this machine, for readers that need a path (ONNX import, dataset parsers): the stored file
    /// itself on the file system (its size checked), a verified copy in the scratch folder on a remote store (size
    /// and SHA-256 checked while it streams in, removed when the lease is disposed). Null when the blob is gone.
    /// </summary>
    public async Task<LocalBlob?> OpenLocalAsync(string sha256, long expectedSize, CancellationToken cancellationToken)
    {
        string key = KeyFor(sha256);
        if (_storage.LocalPathOf(key) is { } path)
        {
            var file = new FileInfo(path);
            if (!file.Exists)
            {
                return null;
            }

            return file.Length == expectedSize
                ? new LocalBlob(path, owned: false)
                : throw new BlobStorageException($"The stored content {sha256} has {file.Length} bytes; {expectedSize} were recorded.");
        }

        await using Stream? remote = await _storage.OpenReadAsync(key, cancellationToken);
        if (remote is null)
        {
            return null;
        }

        (string copy, _, _) = await ReceiveAsync(remote, expectedSize, verifyAgainst: sha256, cancellationToken);
        return new LocalBlob(copy, owned: true);
    }

    /// <summary>Removes a blob no row refers to any more; the caller has checked that.</summary>
    public Task DeleteAsync(string sha256, CancellationToken cancellationToken) => _storage.DeleteAsync(KeyFor(sha256), cancellationToken);

    /// <summary>The blob's key; only ever built from a validated hex digest.</summary>
    public static string KeyFor(string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException("Not a SHA-256 hex digest.", nameof(sha256));
        }

        return Prefix + sha256[..2] + "/" + sha256;
    }

    public void Dispose() => _contentLock.Dispose();

    /// <summary>
    /// Held while content becomes referenced (commit + the artifact row's insert) and while unreferenced content is
    /// removed (the in-use check + delete): otherwise a delete could remove bytes an upload of the same content has
    /// just committed but not yet recorded. Short sections; one store per process (across processes, see the remarks
    /// on this type).
    /// </summary>
    public async Task<IDisposable> LockContentAsync(CancellationToken cancellationToken)
    {
        await _contentLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_contentLock);
    }

    private sealed class Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                semaphore.Release();
            }
        }
    }

    /// <summary>Readiness: the store accepts a write.</summary>
    public Task<bool> IsWritableAsync(CancellationToken cancellationToken) => _storage.IsWritableAsync(cancellationToken);

    /// <summary>
    /// Streams <paramref name="content"/> into a new scratch file while hashing; 413 past <paramref name="maxSizeBytes"/>.
    /// With <paramref name="verifyAgainst"/>, the copy must have exactly that hash and <paramref name="maxSizeBytes"/> bytes.
    /// </summary>
    private async Task<(string Path, string Sha256, long Size)> ReceiveAsync(
        Stream content, long maxSizeBytes, string? verifyAgainst, CancellationToken cancellationToken)
    {
        Storage.OwnerOnly.CreateDirectory(_storage.ScratchDirectory);
        string temporary = Path.Combine(_storage.ScratchDirectory, Guid.NewGuid().ToString("N"));
        try
        {
            long size = 0;
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var fileOptions = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                BufferSize = 81920,
                Options = FileOptions.Asynchronous,
            };
            if (!OperatingSystem.IsWindows())
            {
                fileOptions.UnixCreateMode = Storage.OwnerOnly.FileMode;
            }

            await using (var file = new FileStream(temporary, fileOptions))
            {
                byte[] buffer = new byte[81920];
                int read;
                while ((read = await content.ReadAsync(buffer, cancellationToken)) > 0)
                {
                    size += read;
                    if (size > maxSizeBytes)
                    {
                        throw verifyAgainst is null
                            ? new PayloadTooLargeException(maxSizeBytes)
                            : new BlobStorageException($"The stored content {verifyAgainst} is larger than the {maxSizeBytes} bytes recorded.");
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            string sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (verifyAgainst is not null && (sha256 != verifyAgainst || size != maxSizeBytes))
            {
                throw new BlobStorageException($"The stored content {verifyAgainst} does not match its hash or recorded size.");
            }

            return (temporary, sha256, size);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}

/// <summary>
/// A stored blob as a file on this machine, for as long as it is needed: either the stored file itself, or a verified
/// copy that disposing removes.
/// </summary>
public sealed class LocalBlob(string path, bool owned) : IDisposable
{
    public string Path { get; } = path;

    public void Dispose()
    {
        if (owned)
        {
            File.Delete(Path);
        }
    }
}
