namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// An upload received into the store's local scratch folder (<c>artifacts/sha256/incoming/</c> on the file system), hashed but not yet stored. It is validated where it
/// lies; only <see cref="ArtifactStore.CommitAsync"/> stores it under its hash. Disposing an
/// upload deletes the local file where it was not moved into the store, so a rejected upload never touches a stored blob, whoever owns it.
/// </summary>
public sealed class StagedBlob : IDisposable
{
    internal StagedBlob(string path, string sha256, long sizeBytes)
    {
        Path = path;
        Sha256 = sha256;
        SizeBytes = sizeBytes;
    }

    /// <summary>The incoming file: read it to validate the upload.</summary>
    public string Path { get; }

    public string Sha256 { get; }

    public long SizeBytes { get; }

    internal bool Committed { get; set; }

    public void Dispose()
    {
        if (!Committed)
        {
            File.Delete(Path);
        }
    }
}
