using System.Diagnostics;
using System.Reflection;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// A program's start-up choice of oneDNN's instruction set (<see cref="OneDnnInstructionSet"/>): runs the convolution
/// check in child processes of the same program, each under one limit, and sets the first limit that passes before
/// anything in this process loads libtorch. About a second per child (libtorch's load and the check); one child where
/// oneDNN's default is right, three on the AMD EPYC where only its AVX kernels are (docs/operations.md). The service's
/// hosts, the model-zoo tool and the benchmarks all choose this way, so the zoo's survey lines and the benchmark
/// figures come from the kernels the service itself would run on the same processor.
/// </summary>
public static class OneDnnInstructionSetSelection
{
    /// <summary>
    /// The argument that turns a program into a check child: a program that chooses answers it first, with
    /// <c>Environment.Exit(OneDnnInstructionSet.RunCheckChild(Console.Out))</c>.
    /// </summary>
    public const string ChildArgument = "--audit-check-convolutions";

    // The check itself takes milliseconds after libtorch loads (about a second); this only bounds a child that hangs.
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Chooses and sets the limit <paramref name="program"/> runs with, by checking it in children of that program.
    /// Call once, at the top of the program's entry point, after <see cref="OpenMpWaitPolicy.PreferPassive"/> and
    /// before anything touches TorchSharp: oneDNN reads its limit once per process.
    /// </summary>
    public static OneDnnInstructionSetChoice BeforeLibTorchLoads(Assembly program)
    {
        ArgumentNullException.ThrowIfNull(program);
        if (OneDnnInstructionSet.OperatorChoice() is { } chosenByOperator)
        {
            return chosenByOperator;
        }

        if (Environment.GetEnvironmentVariable(OneDnnInstructionSet.CheckChildMarker) is { Length: > 0 })
        {
            return new OneDnnInstructionSetChoice(null, "not chosen: this process is itself a convolution-check child");
        }

        if (!OperatingSystem.IsLinux())
        {
            // The limit is set through glibc's setenv; only the Linux build is measured.
            return new OneDnnInstructionSetChoice(null, "not chosen: only done on Linux; the service's own check decides");
        }

        if (OneDnnInstructionSet.LibTorchLoaded())
        {
            return new OneDnnInstructionSetChoice(null, "not chosen: libtorch was loaded before the host could choose; the service's own check decides");
        }

        OneDnnInstructionSetChoice choice = OneDnnInstructionSet.Choose(limit => RunCheck(program, limit));
        return choice.Limit is { } chosen && !OneDnnInstructionSet.Apply(chosen)
            ? new OneDnnInstructionSetChoice(null, $"{choice.Reason}, but the limit could not be set; the service's own check decides")
            : choice;
    }

    private static ConvolutionCheckOutcome RunCheck(Assembly program, string? limit)
    {
        ProcessStartInfo start = ProgramStart.For(program, ChildArgument);
        start.Environment.Remove(OneDnnInstructionSet.Variable);
        start.Environment.Remove(OneDnnInstructionSet.LegacyVariable);
        if (limit is not null)
        {
            start.Environment[OneDnnInstructionSet.Variable] = limit;
        }

        start.Environment[OneDnnInstructionSet.CheckChildMarker] = "1";
        try
        {
            using Process child = Process.Start(start) ?? throw new InvalidOperationException("no process");
            // Drained as they come: libtorch's warnings on stderr must never fill the pipe and stall the child.
            Task<string> output = child.StandardOutput.ReadToEndAsync();
            Task<string> errors = child.StandardError.ReadToEndAsync();
            if (!child.WaitForExit(ChildTimeout))
            {
                child.Kill(entireProcessTree: true);
                return ConvolutionCheckOutcome.DidNotRun;
            }

            Task.WaitAll(output, errors);
            return OneDnnInstructionSet.OutcomeOf(child.ExitCode);
        }
#pragma warning disable CA1031 // A check that cannot run leaves the choice to the in-process check; the program must still start.
        catch (Exception)
#pragma warning restore CA1031
        {
            return ConvolutionCheckOutcome.DidNotRun;
        }
    }
}
