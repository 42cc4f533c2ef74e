using System.Diagnostics;
using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests;

[Collection(NativeTorch.Collection)]
public sealed class ConvolutionKernelCheckTests(ITestOutputHelper output)
{
    [Fact]
    public void FloatConvolutions_MatchFloat64_OnceTheCheckHasRun()
    {
        ConvolutionKernels kernels = ConvolutionKernelCheck.EnsureVerified();

        (double error, string worstCase) = ConvolutionKernelCheck.WorstRelativeError();

        output.WriteLine($"{kernels.Kernels}: {kernels.Detail}; now {error:G3} ({worstCase})");
        Assert.True(error <= ConvolutionKernelCheck.RelativeTolerance, $"relative error {error} at {worstCase}");
    }

    [Fact]
    public void TheVerdict_IsTheProcesssOne_AndReportedWithTheRuntime()
    {
        ConvolutionKernels first = ConvolutionKernelCheck.EnsureVerified();

        Assert.Same(first, ConvolutionKernelCheck.EnsureVerified());
        Assert.Same(first, TorchRuntimeInfo.Current().ConvolutionKernels);
        Assert.Contains("float64", first.Detail, StringComparison.Ordinal);
    }

    /// <summary>
    /// Findings carry the check's detail as their reproducibility record, so it names the instruction-set limit oneDNN
    /// ran under (scripts/test.sh sets one on a processor whose default kernels are wrong; none is named otherwise).
    /// </summary>
    [Fact]
    public void TheVerdict_NamesTheInstructionSetLimitOneDnnRanUnder()
    {
        ConvolutionKernels kernels = ConvolutionKernelCheck.EnsureVerified();
        string? limit = OneDnnInstructionSet.CurrentLimit();

        // Without oneDNN in the build there is no limit to name.
        if (limit is null || (kernels.Kernels != "oneDNN" && !kernels.OneDnnTurnedOff))
        {
            Assert.DoesNotContain("limited to", kernels.Detail, StringComparison.Ordinal);
        }
        else
        {
            Assert.Contains($"limited to the {limit} instruction set", kernels.Detail, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// A process started without oneDNN settings (the service's default) ends on right kernels: oneDNN kept where its
    /// convolutions pass, turned off where they do not. The test processes themselves may run under a setting
    /// (scripts/test.sh), so the default is checked in a fresh process: the zoo tool's <c>kernels</c> command.
    /// </summary>
    [Fact]
    public async Task AFreshProcessWithoutOneDnnSettings_EndsOnRightKernels()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Audit.ModelZoo.dll"));
        start.ArgumentList.Add("kernels");
        start.Environment.Remove("ONEDNN_MAX_CPU_ISA");
        start.Environment.Remove("DNNL_MAX_CPU_ISA");
        using Process process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        Task<string> error = process.StandardError.ReadToEndAsync(timeout.Token);
        string verdict = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        string errors = await error;

        output.WriteLine($"exit {process.ExitCode}: {verdict}");
        Assert.True(process.ExitCode is 0 or 3, $"exit {process.ExitCode}: {verdict}{errors}");
        Assert.Contains("matched float64", verdict, StringComparison.Ordinal);
        Assert.StartsWith(process.ExitCode == 3 ? "libtorch native: oneDNN (and NNPACK) turned off" : "oneDNN:", verdict, StringComparison.Ordinal);
    }
}
