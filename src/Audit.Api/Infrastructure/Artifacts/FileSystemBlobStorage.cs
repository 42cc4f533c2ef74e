using System.Text.RegularExpressions;
using Audit.Api.Infrastructure.Storage;

namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// Blobs as files under the data directory, at exactly the paths the service has always used
/// (<c>artifacts/sha256/ab/abcd…</c>, <c>reports/{id}/report.pdf</c>). Uploads are received into
/// <c>artifacts/sha256/incoming/</c> on the same file system, so storing one is an atomic rename. One process owns a
/// data directory: whatever is in incoming/ at start was left by a process that died mid-upload and goes.
/// </summary>
public sealed partial class FileSystemBlobStorage : IBlobStorage
{
    private readonly string _root;

    public FileSystemBlobStorage(string dataDirectory)
    {
        _root = Path.GetFullPath(dataDirectory);
        string artifacts = Path.Combine(_root, "artifacts", "sha256");
        ScratchDirectory = Path.Combine(artifacts, "incoming");
        OwnerOnly.CreateDirectory(Path.Combine(_root, "artifacts"));
        OwnerOnly.CreateDirectory(artifacts);
        if (Directory.Exists(ScratchDirectory))
        {
            Directory.Delete(ScratchDirectory, recursive: true);
        }

        OwnerOnly.CreateDirectory(ScratchDirectory);
    }

    public string Location => _root;

    public string ScratchDirectory { get; }

    public Task<bool> PutFileAsync(string key, string localPath, BlobChecksum checksum, bool replace, CancellationToken cancellationToken)
    {
        string target = PathOf(key);
        OwnerOnly.CreateDirectory(Path.GetDirectoryName(target)!);
        try
        {
            File.Move(localPath, target, overwrite: replace);
            return Task.FromResult(true);
        }
        catch (IOException) when (!replace && File.Exists(target))
        {
            // A concurrent writer of the same key got there first; the caller decides whether that is the same content.
            return Task.FromResult(false);
        }
    }

    public async Task PutBytesAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        string target = PathOf(key);
        OwnerOnly.CreateDirectory(Path.GetDirectoryName(target)!);
        string temporary = target + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            await using (var stream = new FileStream(temporary, WriteOptions()))
            {
                await stream.WriteAsync(content, cancellationToken);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, target, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    public Task<long?> SizeAsync(string key, CancellationToken cancellationToken)
    {
        var file = new FileInfo(PathOf(key));
        return Task.FromResult<long?>(file.Exists ? file.Length : null);
    }

    public Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return Task.FromResult<Stream?>(new FileStream(PathOf(key), FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true));
        }
        catch (FileNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
        catch (DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            File.Delete(PathOf(key));
        }
        catch (DirectoryNotFoundException)
        {
            // Never stored, or its folder went with it: already gone.
        }

        return Task.CompletedTask;
    }

    public string? LocalPathOf(string key) => PathOf(key);

    public Task<bool> IsWritableAsync(CancellationToken cancellationToken)
    {
        try
        {
            string probe = Path.Combine(_root, "artifacts", "sha256", ".ready-" + Guid.NewGuid().ToString("N"));
            File.WriteAllBytes(probe, [1]);
            File.Delete(probe);
            return Task.FromResult(true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Task.FromResult(false);
        }
    }

    /// <summary>Keys are built by the service; a key with anything but plain path segments is a bug, not input.</summary>
    private string PathOf(string key)
    {
        if (!ValidKey().IsMatch(key) || key.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new ArgumentException($"Not a blob key: '{key}'.", nameof(key));
        }

        return Path.Combine(_root, key.Replace('/', Path.DirectorySeparatorChar));
    }

    private static FileStreamOptions WriteOptions()
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly.FileMode;
        }

        return options;
    }

    [GeneratedRegex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")]
    internal static partial Regex ValidKey();
}
