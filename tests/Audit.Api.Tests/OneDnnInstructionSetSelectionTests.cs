using System.Diagnostics;
using Audit.Api.Infrastructure.Isolation;
using Audit.Evaluators.Runtime;

namespace Audit.Api.Tests;

/// <summary>
/// The service program's convolution-check mode (<see cref="HostOneDnnInstructionSet.ChildArgument"/>), which the
/// hosts run in child processes to choose oneDNN's instruction set before libtorch loads. What the service then chose
/// is asserted on the real process in <see cref="RealProcessTests"/>.
/// </summary>
public sealed class OneDnnInstructionSetSelectionTests
{
    public static TheoryData<string?> Limits => [null, .. OneDnnInstructionSet.Fallbacks];

    [Theory]
    [MemberData(nameof(Limits))]
    public async Task TheCheckChild_ReportsWhetherOneDnnIsRightUnderTheLimit(string? limit)
    {
        (int exitCode, string verdict) = await RunCheckAsync(limit);

        Assert.True(exitCode is 0 or 3, $"exit {exitCode}: {verdict}");
        Assert.Contains("matched float64", verdict, StringComparison.Ordinal);
        if (exitCode == 3)
        {
            Assert.StartsWith("libtorch native: oneDNN (and NNPACK) turned off", verdict, StringComparison.Ordinal);
        }
        else
        {
            Assert.StartsWith("oneDNN:", verdict, StringComparison.Ordinal);
        }

        // The verdict names the limit it ran under, as findings do.
        Assert.Equal(limit is not null, verdict.Contains($"limited to the {limit} instruction set", StringComparison.Ordinal));
    }

    /// <summary>
    /// What the service must choose on this machine, from the check children themselves: oneDNN's default when it
    /// passes, else the first fallback that passes, else none.
    /// </summary>
    internal static async Task<string?> ExpectedLimitAsync()
    {
        foreach (string? limit in (string?[])[null, .. OneDnnInstructionSet.Fallbacks])
        {
            (int exitCode, _) = await RunCheckAsync(limit);
            if (exitCode == 0)
            {
                return limit;
            }
        }

        return null;
    }

    private static async Task<(int ExitCode, string Verdict)> RunCheckAsync(string? limit)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(typeof(HostOneDnnInstructionSet).Assembly.Location);
        start.ArgumentList.Add(HostOneDnnInstructionSet.ChildArgument);
        // The test processes may run under a limit (scripts/test.sh): the child gets exactly the one asked for.
        start.Environment.Remove(OneDnnInstructionSet.Variable);
        start.Environment.Remove(OneDnnInstructionSet.LegacyVariable);
        if (limit is not null)
        {
            start.Environment[OneDnnInstructionSet.Variable] = limit;
        }

        using Process child = Process.Start(start)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        Task<string> errors = child.StandardError.ReadToEndAsync(timeout.Token);
        string verdict = await child.StandardOutput.ReadToEndAsync(timeout.Token);
        await child.WaitForExitAsync(timeout.Token);
        _ = await errors;
        return (child.ExitCode, verdict.Trim());
    }
}
