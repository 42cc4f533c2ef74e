namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// An upload received into <c>artifacts/sha256/incoming/</c>, hashed but not yet stored. It is validated where it
/// lies; only <see cref="ArtifactStore.Commit"/> moves it into the content-addressed location. Disposing an
/// uncommitted one deletes the incoming file, so a rejected upload never touches a stored blob, whoever owns it.
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
