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
        (int exitCode, string verdict, string errors) = await RunZooToolAsync("kernels", limit: null);

        output.WriteLine($"exit {exitCode}: {verdict}");
        Assert.True(exitCode is 0 or 3, $"exit {exitCode}: {verdict}{errors}");
        Assert.Contains("matched float64", verdict, StringComparison.Ordinal);
        Assert.StartsWith(exitCode == 3 ? "libtorch native: oneDNN (and NNPACK) turned off" : "oneDNN:", verdict, StringComparison.Ordinal);
    }

    /// <summary>
    /// The zoo tool (and so its survey lines, and scripts/test.sh, which exports what it prints) chooses the limit the
    /// service would: oneDNN's default when its check passes, else the first fallback whose check passes, else none.
    /// The expectation comes from the plain check under each limit, each in a fresh process.
    /// </summary>
    [Fact]
    public async Task TheZooToolsChoice_IsTheFirstLimitWhoseCheckPasses()
    {
        string expected = "";
        string expectedReason = "failed the convolution check by default and under";
        foreach (string? limit in (string?[])[null, .. OneDnnInstructionSet.Fallbacks])
        {
            (int exitCode, string verdict, _) = await RunZooToolAsync("kernels", limit);
            output.WriteLine($"{limit ?? "default"}: exit {exitCode}: {verdict}");
            if (exitCode == 0)
            {
                expected = limit ?? "";
                expectedReason = limit is null ? "oneDNN's default kernels passed" : $"limited to {limit}";
                break;
            }
        }

        (int chooseExit, string chosen, string reason) = await RunZooToolAsync("choose-kernels", limit: null);

        output.WriteLine($"chosen '{chosen}': {reason}");
        Assert.Equal(0, chooseExit);
        Assert.Equal(expected, chosen);
        Assert.Contains(expectedReason, reason, StringComparison.Ordinal);
    }

    /// <summary>An operator's limit is kept as it is, unchecked, as the service keeps it.</summary>
    [Fact]
    public async Task TheZooTool_KeepsAnOperatorsLimit()
    {
        (int exitCode, string chosen, string reason) = await RunZooToolAsync("choose-kernels", limit: "AVX2");

        Assert.Equal(0, exitCode);
        Assert.Equal("AVX2", chosen);
        Assert.Contains("kept as it is", reason, StringComparison.Ordinal);
    }

    private static async Task<(int ExitCode, string Output, string Errors)> RunZooToolAsync(string command, string? limit)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Audit.ModelZoo.dll"));
        start.ArgumentList.Add(command);
        // The test processes may run under a limit (scripts/test.sh): the tool gets exactly the one asked for.
        start.Environment.Remove(OneDnnInstructionSet.Variable);
        start.Environment.Remove(OneDnnInstructionSet.LegacyVariable);
        if (limit is not null)
        {
            start.Environment[OneDnnInstructionSet.Variable] = limit;
        }

        using Process process = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        Task<string> error = process.StandardError.ReadToEndAsync(timeout.Token);
        string standardOutput = await process.StandardOutput.ReadToEndAsync(timeout.Token);
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, standardOutput.Trim(), (await error).Trim());
    }
}
