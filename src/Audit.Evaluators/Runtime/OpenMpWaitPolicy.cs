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

        // overwrite = false: a value set between the check above and here (nothing should) still wins. Only the Linux
        // build (libgomp) is measured; elsewhere, or without glibc, libtorch's runtime keeps its default.
        return NativeEnvironment.TrySet(Variable, "PASSIVE", overwrite: false) ? "PASSIVE" : Unset;
    }
}
