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
/// Content-addressed blob store under <c>DataDirectory/artifacts/sha256/ab/abcdef…</c>. Uploads stream into
/// <c>incoming/</c> while hashing (<see cref="StageAsync"/>), are validated there, and only an accepted one is
/// renamed into place (<see cref="Commit"/>): a reader never sees a half-written blob, the same bytes uploaded
/// twice are stored once, and a rejected upload can never remove a blob another upload (any tenant's) relies on,
/// because stored blobs are never deleted. Paths are derived only from hashes we computed: a client can never
/// name a path. Folders are 0700 and files 0600 on Unix.
/// </summary>
public sealed class ArtifactStore : IDisposable
{
    private readonly SemaphoreSlim _contentLock = new(1, 1);

    private readonly string _root;
    private readonly string _incoming;

    public ArtifactStore(string dataDirectory)
    {
        _root = Path.Combine(dataDirectory, "artifacts", "sha256");
        _incoming = Path.Combine(_root, "incoming");
        Storage.OwnerOnly.CreateDirectory(Path.Combine(dataDirectory, "artifacts"));
        Storage.OwnerOnly.CreateDirectory(_root);
        // Whatever is in incoming/ was left by a process that died mid-upload (kill -9, power loss): no request
        // of this process can own it yet, so it goes.
        if (Directory.Exists(_incoming))
        {
            Directory.Delete(_incoming, recursive: true);
        }

        Storage.OwnerOnly.CreateDirectory(_incoming);
    }

    /// <summary>The folder uploads are received into before they are accepted.</summary>
    public string IncomingDirectory => _incoming;

    /// <summary>Receives <paramref name="content"/> into incoming/, hashing it; 413 past <paramref name="maxSizeBytes"/>.</summary>
    public async Task<StagedBlob> StageAsync(Stream content, long maxSizeBytes, CancellationToken cancellationToken)
    {
        Storage.OwnerOnly.CreateDirectory(_incoming);
        string temporary = Path.Combine(_incoming, Guid.NewGuid().ToString("N"));
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
                        throw new PayloadTooLargeException(maxSizeBytes);
                    }

                    hash.AppendData(buffer, 0, read);
                    await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                }

                await file.FlushAsync(cancellationToken);
                file.Flush(flushToDisk: true);
            }

            return new StagedBlob(temporary, Convert.ToHexStringLower(hash.GetHashAndReset()), size);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Moves an accepted upload into its content-addressed place. If the blob is already stored (an earlier or a
    /// concurrent upload of the same bytes), the stored one is kept: equal hashes mean equal bytes.
    /// </summary>
    public StoredBlob Commit(StagedBlob staged)
    {
        ArgumentNullException.ThrowIfNull(staged);
        string target = PathFor(staged.Sha256);
        Storage.OwnerOnly.CreateDirectory(Path.GetDirectoryName(target)!);
        if (!File.Exists(target))
        {
            try
            {
                File.Move(staged.Path, target, overwrite: false);
            }
            catch (IOException) when (File.Exists(target))
            {
                // A concurrent upload of the same bytes got there first.
            }
        }

        staged.Dispose();
        staged.Committed = true;
        return new StoredBlob(staged.Sha256, staged.SizeBytes);
    }

    /// <summary>Stages and commits at once, for content that needs no validation.</summary>
    public async Task<StoredBlob> SaveAsync(Stream content, long maxSizeBytes, CancellationToken cancellationToken)
    {
        using StagedBlob staged = await StageAsync(content, maxSizeBytes, cancellationToken);
        return Commit(staged);
    }

    /// <summary>The blob's path; only ever built from a validated hex digest.</summary>
    public string PathFor(string sha256)
    {
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower))
        {
            throw new ArgumentException("Not a SHA-256 hex digest.", nameof(sha256));
        }

        return Path.Combine(_root, sha256[..2], sha256);
    }

    public bool Exists(string sha256) => File.Exists(PathFor(sha256));

    /// <summary>Removes a blob no row refers to any more; the caller has checked that.</summary>
    public void Delete(string sha256) => File.Delete(PathFor(sha256));

    public void Dispose() => _contentLock.Dispose();

    /// <summary>
    /// Held while content becomes referenced (commit + the artifact row's insert) and while unreferenced content is
    /// removed (the in-use check + delete): otherwise a delete could remove bytes an upload of the same content has
    /// just committed but not yet recorded. Short sections; one store per process.
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

    /// <summary>Readiness: the store's directory exists and accepts a write.</summary>
    public bool IsWritable()
    {
        try
        {
            string probe = Path.Combine(_root, ".ready-" + Guid.NewGuid().ToString("N"));
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
