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
/// Content-addressed blob store under <c>DataDirectory/artifacts/sha256/ab/abcdef…</c>. Writes stream into a
/// temporary file in the same directory while hashing, then rename into place, so a reader never sees a
/// half-written blob and the same bytes uploaded twice are stored once. Paths are derived only from hashes
/// we computed: a client can never name a path.
/// </summary>
public sealed class ArtifactStore
{
    private readonly string _root;

    public ArtifactStore(string dataDirectory)
    {
        _root = Path.Combine(dataDirectory, "artifacts", "sha256");
        Directory.CreateDirectory(_root);
    }

    public async Task<StoredBlob> SaveAsync(Stream content, long maxSizeBytes, CancellationToken cancellationToken)
    {
        string incoming = Path.Combine(_root, "incoming");
        Directory.CreateDirectory(incoming);
        string temporary = Path.Combine(incoming, Guid.NewGuid().ToString("N"));
        try
        {
            long size = 0;
            string sha256;
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 81920, FileOptions.Asynchronous))
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

                sha256 = Convert.ToHexStringLower(hash.GetHashAndReset());
            }

            string target = PathFor(sha256);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (File.Exists(target))
            {
                File.Delete(temporary);
            }
            else
            {
                File.Move(temporary, target, overwrite: true);
            }

            return new StoredBlob(sha256, size);
        }
        finally
        {
            if (File.Exists(temporary))
            {
                File.Delete(temporary);
            }
        }
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
