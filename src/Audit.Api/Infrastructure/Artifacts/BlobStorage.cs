namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// Where the service's bytes live (artifacts, evidence, issued report PDFs): a folder on this machine or an
/// S3-compatible bucket (<c>Audit:Storage:Provider</c>). Keys are relative paths the service builds itself, never
/// from client input (<c>artifacts/sha256/ab/abcd…</c>, <c>reports/{id}/report.pdf</c>). Every write is whole or
/// absent: no reader ever sees part of an object under its key.
/// </summary>
public interface IBlobStorage
{
    /// <summary>For logs and health messages: the folder or the bucket.</summary>
    string Location { get; }

    /// <summary>
    /// A local folder for files being received or read (uploads before they are accepted, downloads the evaluators
    /// read from disk). On the file system it lies beside the stored blobs, so committing is a rename.
    /// </summary>
    string ScratchDirectory { get; }

    /// <summary>
    /// Stores a complete local file under <paramref name="key"/>. The file system moves it into place (the local file
    /// is gone afterwards and true is returned); S3 uploads it in one request that the server applies whole (the local
    /// file stays, false is returned). An existing object under the key is replaced only when <paramref name="replace"/>.
    /// </summary>
    Task<bool> PutFileAsync(string key, string localPath, BlobChecksum checksum, bool replace, CancellationToken cancellationToken);

    /// <summary>Stores <paramref name="content"/> under <paramref name="key"/>, replacing what was there, whole or not at all.</summary>
    Task PutBytesAsync(string key, byte[] content, CancellationToken cancellationToken);

    /// <summary>The stored object's size, or null when there is none.</summary>
    Task<long?> SizeAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Opens the object for reading; null when there is none. The stream is seekable with a known length (S3 reads
    /// ranges on demand), so ranged downloads work on both stores without loading the object into memory.
    /// </summary>
    Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken);

    /// <summary>Removes the object; no error when it is already gone.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>The object's file on this machine when the store is a local folder; null for a remote store.</summary>
    string? LocalPathOf(string key);

    /// <summary>Readiness: a small object can be written and removed.</summary>
    Task<bool> IsWritableAsync(CancellationToken cancellationToken);
}

/// <summary>The size and SHA-256 (lower-case hex) we computed for a file while receiving it.</summary>
public sealed record BlobChecksum(string Sha256, long SizeBytes);

/// <summary>The store answered with an error that is not "no such object" (wrong credentials, missing bucket, unreachable).</summary>
public sealed class BlobStorageException(string message, Exception? inner = null) : Exception(message, inner);
