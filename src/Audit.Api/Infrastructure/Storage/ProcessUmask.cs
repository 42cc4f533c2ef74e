using System.Runtime.InteropServices;

namespace Audit.Api.Infrastructure.Storage;

/// <summary>
/// Sets the process umask to 077 on Unix, so every file the service or its libraries create (SQLite's database,
/// journal and WAL, reports, keys, logs written to disk) starts owner-only, whatever the shell's umask was.
/// </summary>
public static class ProcessUmask
{
    private const int OwnerOnlyMask = 0b000_111_111; // 077

    public static void RestrictToOwner()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            _ = SetUmask(OwnerOnlyMask);
        }
    }

    // DllImport, not LibraryImport: the signature is blittable and LibraryImport would need unsafe code enabled.
#pragma warning disable SYSLIB1054
    [DllImport("libc", EntryPoint = "umask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetUmask(int mask);
#pragma warning restore SYSLIB1054
}
