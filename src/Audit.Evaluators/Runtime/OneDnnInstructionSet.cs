using System.Globalization;

namespace Audit.Evaluators.Runtime;

/// <summary>The oneDNN instruction-set limit a host starts libtorch with, and why.</summary>
/// <param name="Limit">
/// The value of <c>ONEDNN_MAX_CPU_ISA</c> the process runs with; null for none (oneDNN's own choice, or oneDNN turned
/// off by the in-process check when no limit made its convolutions right).
/// </param>
/// <param name="Reason">What decided it, for the start-up log.</param>
public sealed record OneDnnInstructionSetChoice(string? Limit, string Reason);

/// <summary>How the convolution check ended in a child process started under one instruction-set limit.</summary>
public enum ConvolutionCheckOutcome
{
    /// <summary>oneDNN's float32 convolutions matched float64: oneDNN stays on.</summary>
    OneDnnRight,

    /// <summary>oneDNN's were wrong; libtorch's own kernels were right (the check turned oneDNN off).</summary>
    OneDnnWrong,

    /// <summary>Neither oneDNN's nor libtorch's own kernels were right.</summary>
    NothingRight,

    /// <summary>The child did not report (it crashed, hung or could not start).</summary>
    DidNotRun,
}

/// <summary>
/// Chooses, before libtorch loads, the most capable oneDNN instruction set whose float32 convolutions are right on this
/// processor. <see cref="ConvolutionKernelCheck"/> runs in every process that computes and turns oneDNN off where its
/// convolutions are wrong: right, but 2.4–2.9× slower on the AMD EPYC where oneDNN's AVX-512 (and single-channel AVX2)
/// backward kernels were wrong, while its AVX kernels were right and as fast (docs/operations.md). oneDNN reads its
/// limit, <c>ONEDNN_MAX_CPU_ISA</c>, once per process from the native environment, before its first kernel, and
/// libtorch does not export oneDNN's <c>dnnl_set_max_cpu_isa</c>; so a process cannot retry a lower limit once it has
/// run a convolution. The host asks child processes instead — the same check, each under one limit: none first, then
/// <see cref="Fallbacks"/> — and sets the first limit that passes in its own native environment before anything loads
/// libtorch. The in-process check still runs afterwards and still turns oneDNN off if the chosen limit is wrong there.
/// </summary>
public static class OneDnnInstructionSet
{
    /// <summary>The variable oneDNN reads (oneDNN 2.x and later).</summary>
    public const string Variable = "ONEDNN_MAX_CPU_ISA";

    /// <summary>The older name oneDNN still reads; an operator's value under it is kept too.</summary>
    public const string LegacyVariable = "DNNL_MAX_CPU_ISA";

    /// <summary>Set in a check child, so that a host started as one never starts children of its own.</summary>
    public const string CheckChildMarker = "AUDIT_CONVOLUTION_CHECK_CHILD";

    /// <summary>
    /// Limits tried, most capable first, after oneDNN's default failed. x86-64 instruction sets oneDNN's JIT knows
    /// (oneDNN's documentation, "CPU dispatcher control"); below AVX its convolutions lose most of their advantage over
    /// libtorch's own kernels, so the fallback there is the in-process check's.
    /// </summary>
    public static IReadOnlyList<string> Fallbacks { get; } = ["AVX2", "AVX"];

    /// <summary>The exit code of a check child for each outcome (the zoo tool's <c>kernels</c> command uses the same).</summary>
    public static int ExitCodeOf(ConvolutionKernels kernels) => kernels.OneDnnTurnedOff ? 3 : 0;

    /// <summary>The outcome a check child's exit code reports (<see cref="RunCheckChild"/>).</summary>
    public static ConvolutionCheckOutcome OutcomeOf(int exitCode) => exitCode switch
    {
        0 => ConvolutionCheckOutcome.OneDnnRight,
        3 => ConvolutionCheckOutcome.OneDnnWrong,
        1 => ConvolutionCheckOutcome.NothingRight,
        _ => ConvolutionCheckOutcome.DidNotRun,
    };

    /// <summary>
    /// A check child's side: runs <see cref="ConvolutionKernelCheck"/> under whatever limit the parent set, writes its
    /// verdict and returns the exit code (0 oneDNN right, 3 oneDNN wrong, 1 nothing right).
    /// </summary>
    public static int RunCheckChild(TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(output);
        try
        {
            ConvolutionKernels kernels = ConvolutionKernelCheck.EnsureVerified();
            output.WriteLine($"{kernels.Kernels}: {kernels.Detail}");
            return ExitCodeOf(kernels);
        }
        catch (InvalidOperationException ex)
        {
            output.WriteLine(ex.Message);
            return 1;
        }
    }

    /// <summary>The operator's limit, when one is set under either name (kept as it is: nothing is checked or chosen).</summary>
    public static OneDnnInstructionSetChoice? OperatorChoice()
    {
        foreach (string name in new[] { Variable, LegacyVariable })
        {
            if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } value)
            {
                return new OneDnnInstructionSetChoice(value, $"{name}={value}, set before start (kept as it is)");
            }
        }

        return null;
    }

    /// <summary>
    /// The choice, given a way to run the check in a fresh process under a limit (null: none). oneDNN's default is
    /// kept when it passes; otherwise the first of <see cref="Fallbacks"/> that passes; otherwise none, and the
    /// in-process check turns oneDNN off. A child that does not report stops the search: the in-process check decides.
    /// </summary>
    public static OneDnnInstructionSetChoice Choose(Func<string?, ConvolutionCheckOutcome> check)
    {
        ArgumentNullException.ThrowIfNull(check);
        ConvolutionCheckOutcome byDefault = check(null);
        switch (byDefault)
        {
            case ConvolutionCheckOutcome.OneDnnRight:
                return new OneDnnInstructionSetChoice(null, "oneDNN's default kernels passed the convolution check in a fresh process");
            case ConvolutionCheckOutcome.DidNotRun:
                return new OneDnnInstructionSetChoice(null, "the convolution check did not report from a fresh process; the service's own check decides");
            case ConvolutionCheckOutcome.NothingRight:
                return new OneDnnInstructionSetChoice(null, "no convolution kernels were right in a fresh process; the service's own check will stop every audit");
        }

        var tried = new List<string>();
        foreach (string limit in Fallbacks)
        {
            ConvolutionCheckOutcome outcome = check(limit);
            if (outcome == ConvolutionCheckOutcome.OneDnnRight)
            {
                string wrong = tried.Count == 0 ? "" : $" ({string.Join(", ", tried)} wrong too)";
                return new OneDnnInstructionSetChoice(limit, string.Create(CultureInfo.InvariantCulture,
                    $"oneDNN's default kernels failed the convolution check; limited to {limit}, which passed it{wrong}"));
            }

            if (outcome != ConvolutionCheckOutcome.OneDnnWrong)
            {
                break;
            }

            tried.Add(limit);
        }

        return new OneDnnInstructionSetChoice(null, string.Create(CultureInfo.InvariantCulture,
            $"oneDNN's kernels failed the convolution check by default and under {string.Join(", ", Fallbacks)}; the service's own check turns oneDNN off"));
    }

    /// <summary>
    /// Sets the limit in the native environment (for oneDNN) and in .NET's (for child processes). Returns false where
    /// it could not (not Linux or not glibc), or when a value was set in the meantime (that one is kept).
    /// </summary>
    public static bool Apply(string limit) =>
        NativeEnvironment.TrySet(Variable, limit, overwrite: false)
        && string.Equals(Environment.GetEnvironmentVariable(Variable), limit, StringComparison.Ordinal);

    /// <summary>
    /// Whether libtorch is already mapped into this process (read from <c>/proc/self/maps</c>): then oneDNN may have
    /// read its limit already, and setting one now would only mislead.
    /// </summary>
    public static bool LibTorchLoaded() => MappedLibTorch.CpuLibraries().Any();

    /// <summary>The limit oneDNN runs under in this process, as the convolution check reports it; null for none.</summary>
    public static string? CurrentLimit() =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value
        : Environment.GetEnvironmentVariable(LegacyVariable) is { Length: > 0 } legacy ? legacy
        : null;
}
