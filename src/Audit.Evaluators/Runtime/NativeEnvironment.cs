using System.Runtime.InteropServices;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Sets a variable in the process's native environment, the one native libraries (libgomp, oneDNN) read with
/// <c>getenv</c>. <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not change it on Unix, so a
/// setting meant for libtorch's libraries must go through libc, before they load.
/// </summary>
internal static class NativeEnvironment
{
    /// <summary>
    /// Sets <paramref name="name"/> natively (glibc's <c>setenv</c>) and in .NET's copy, which child processes started
    /// through <see cref="System.Diagnostics.ProcessStartInfo"/> inherit. With <paramref name="overwrite"/> false, a
    /// value already there wins. False where it could not be set (not Linux, or no glibc).
    /// </summary>
    public static bool TrySet(string name, string value, bool overwrite)
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            if (SetEnvironment(Utf8z(name), Utf8z(value), overwrite ? 1 : 0) != 0)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no libc.so.6).
            return false;
        }

        Environment.SetEnvironmentVariable(name, value);
        return true;
    }

    private static byte[] Utf8z(string text) => [.. System.Text.Encoding.UTF8.GetBytes(text), 0];

    // DllImport with byte arrays, not LibraryImport with strings: blittable, so no unsafe code is needed. glibc's
    // soname, as NativeHeap's.
#pragma warning disable SYSLIB1054
    [DllImport("libc.so.6", EntryPoint = "setenv")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetEnvironment(byte[] name, byte[] value, int overwrite);
#pragma warning restore SYSLIB1054
}
