using System.Globalization;
using System.Runtime.InteropServices;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Hands the free pages of the process's native heap (glibc <c>malloc</c>, which libtorch's CPU tensors come from)
/// back to the kernel.
/// </summary>
/// <remarks>
/// Why: the trojan scan frees and reallocates tensors of many sizes every step on two threads, each with its own glibc
/// arena, and glibc keeps what is freed resident; the scan's peak grew to 1.1–1.8 GB for models under 1 MB while its
/// live tensors were tens of MiB (docs/benchmarks.md, "Where the memory goes"). Fixing glibc's options at run time
/// was measured and not kept: <c>M_ARENA_MAX</c> set after start leaves the arenas that exist in use, and a low
/// <c>M_MMAP_THRESHOLD</c> costs page faults on every forward. Linux with glibc only: elsewhere (macOS, Windows, musl)
/// <see cref="Trim"/> is a no-op. Holds no state.
/// </remarks>
public static class NativeHeap
{
    /// <summary>Whether this process allocates with glibc (Linux; not musl).</summary>
    public static bool IsGlibc { get; } = OperatingSystem.IsLinux() && HasGlibc();

    /// <summary>
    /// Returns the free pages of every arena to the kernel (<c>malloc_trim(0)</c>): resident memory drops to what is
    /// live plus fragments smaller than a page. Thread-safe (glibc locks each arena in turn). Pages used again cost a
    /// page fault each, so call it every few steps of a loop, not every step. Returns whether any memory was released
    /// (false without glibc).
    /// </summary>
    public static bool Trim() => IsGlibc && MallocTrim(0) == 1;

    /// <summary>
    /// Resident memory above which the probes' loops trim (<see cref="HeapTrimmer"/>): three quarters of the 1 GB the
    /// service may use while auditing a model of 10 MB or less, leaving a quarter for what a loop allocates between two
    /// looks (the trigger search looks every step). The benchmark host stays below it on the 10-class example's
    /// trojan-scan audit (480–525 MiB); the service, whose own baseline is higher, peaks at 770–870 MiB there and trims
    /// only in the steps above the line. At 512 MiB the service trimmed at every step, as often as before.
    /// </summary>
    public const long TrimAboveBytes = 768L << 20;

    /// <summary>The process's resident memory in bytes (<c>/proc/self/statm</c>); 0 where that file does not exist.</summary>
    public static long ResidentBytes()
    {
        const string Statm = "/proc/self/statm";
        if (!OperatingSystem.IsLinux() || !File.Exists(Statm))
        {
            return 0;
        }

        string[] fields = File.ReadAllText(Statm).Split(' ', 3);
        return fields.Length > 1 && long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long pages)
            ? pages * Environment.SystemPageSize
            : 0;
    }

    private static bool HasGlibc()
    {
        try
        {
            return GnuLibcVersion() != IntPtr.Zero;
        }
        catch (EntryPointNotFoundException)
        {
            return false;
        }
        catch (DllNotFoundException)
        {
            return false;
        }
    }

    // DllImport, not LibraryImport: the signatures are blittable and LibraryImport would need unsafe code enabled.
    // "libc.so.6" is glibc's soname: musl has none, so a musl process takes the DllNotFoundException path above.
#pragma warning disable SYSLIB1054
    [DllImport("libc.so.6", EntryPoint = "gnu_get_libc_version")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern IntPtr GnuLibcVersion();

    [DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
#pragma warning restore SYSLIB1054
}
