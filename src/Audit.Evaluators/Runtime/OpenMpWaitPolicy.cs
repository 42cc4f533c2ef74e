using System.Runtime.InteropServices;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Makes libtorch's OpenMP workers sleep, rather than spin, while they wait for work, unless the operator chose
/// otherwise. libgomp's default lets every idle worker spin for a while after each parallel region: on a shared
/// machine that time is taken from the audits, workers and databases beside it (perf put 31 % of a 2-core machine's
/// samples in spinning libgomp workers during the test suite, and training one fixture beside a busy core took 140 s
/// instead of 20 s; docs/benchmarks.md). libgomp reads <c>OMP_WAIT_POLICY</c> once, when libtorch loads it, from the
/// process's native environment, which <see cref="Environment.SetEnvironmentVariable(string, string)"/> does not
/// change on Unix; so this sets the native variable, and must run before anything touches TorchSharp.
/// </summary>
public static class OpenMpWaitPolicy
{
    /// <summary>The variable libgomp (and LLVM's libomp) read.</summary>
    public const string Variable = "OMP_WAIT_POLICY";

    /// <summary>What <see cref="PreferPassive"/> returns when it could not set the variable.</summary>
    public const string Unset = "unset (libgomp's default)";

    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment when it is not set (an operator's value, such
    /// as ACTIVE on a dedicated machine, is kept). Returns the policy the process will run with. Call it first in a
    /// host's entry point: child processes started afterwards inherit it.
    /// </summary>
    public static string PreferPassive()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } chosen)
        {
            return chosen;
        }

        if (!OperatingSystem.IsLinux())
        {
            // Only the Linux build (libgomp) is measured; elsewhere libtorch's runtime keeps its default.
            return Unset;
        }

        try
        {
            // overwrite = 0: a value set between the check above and here (nothing should) still wins.
            if (SetEnvironment(Utf8z(Variable), Utf8z("PASSIVE"), 0) != 0)
            {
                return Unset;
            }
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no libc.so.6): libgomp keeps its default.
            return Unset;
        }

        // Keep .NET's view in step, so child processes started through ProcessStartInfo inherit it too (their
        // environment is built from the managed copy).
        Environment.SetEnvironmentVariable(Variable, "PASSIVE");
        return "PASSIVE";
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
