namespace Audit.Api.Infrastructure.Storage;

/// <summary>
/// Owner-only permissions for everything under the data directory (0700 folders, 0600 files) on Unix: the
/// database, artifacts, reports and keys belong to the service's account, never to other local users.
/// </summary>
public static class OwnerOnly
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>Creates the folder (and missing parents) with mode 0700 and tightens it if it already existed.</summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return Directory.CreateDirectory(path);
        }

        DirectoryInfo directory = Directory.CreateDirectory(path, DirectoryMode);
        File.SetUnixFileMode(path, DirectoryMode);
        return directory;
    }

    /// <summary>
    /// Tightens the whole tree: files written by code that does not pass a mode (SQLite, report files, older
    /// releases) end up 0600, folders 0700. Run at start-up and after the database is created.
    /// </summary>
    public static void Secure(string root)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(root))
        {
            return;
        }

        File.SetUnixFileMode(root, DirectoryMode);
        foreach (string entry in Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories))
        {
            try
            {
                FileAttributes attributes = File.GetAttributes(entry);
                if ((attributes & FileAttributes.ReparsePoint) != 0)
                {
                    continue;
                }

                File.SetUnixFileMode(entry, (attributes & FileAttributes.Directory) != 0 ? DirectoryMode : FileMode);
            }
            catch (FileNotFoundException)
            {
                // Removed while we walked (a temporary file); nothing to tighten.
            }
            catch (DirectoryNotFoundException)
            {
                // Same.
            }
        }
    }
}
