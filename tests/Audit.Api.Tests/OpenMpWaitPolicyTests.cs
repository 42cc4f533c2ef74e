using System.Diagnostics;
using Audit.Api.Infrastructure.Isolation;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests;

/// <summary>
/// The service's own process (here its model-check mode, which loads libtorch as audits do) makes libtorch's OpenMP
/// workers sleep while idle, without the launch profile or scripts/test.sh setting it, and keeps an operator's choice.
/// libgomp prints what it initialised from when <c>OMP_DISPLAY_ENV=VERBOSE</c>, so the test reads what libtorch really
/// got. The spin count is the telling line: with the variable unset libgomp also prints the policy as PASSIVE but spins
/// 300,000 times before sleeping; PASSIVE makes it 0.
/// </summary>
public sealed class OpenMpWaitPolicyTests
{
    [Theory]
    [InlineData(null, "PASSIVE", true)]
    [InlineData("ACTIVE", "ACTIVE", false)]
    public async Task TheServiceProcess_GivesLibtorchThePassivePolicyUnlessTheOperatorChoseOne(string? operatorChoice, string policy, bool sleepsAtOnce)
    {
        string model = Path.Combine(Path.GetTempPath(), $"audit-omp-{Guid.NewGuid():N}.onnx");
        await File.WriteAllBytesAsync(model, TestModels.Conv2d);
        try
        {
            var start = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.ArgumentList.Add(typeof(IsolatedModelInspection).Assembly.Location);
            start.ArgumentList.Add(IsolatedModelInspection.ChildArgument);
            start.ArgumentList.Add(model);
            // The test host itself runs with PASSIVE (scripts/test.sh): the child must not merely inherit it.
            start.Environment.Remove("OMP_WAIT_POLICY");
            if (operatorChoice is not null)
            {
                start.Environment["OMP_WAIT_POLICY"] = operatorChoice;
            }

            start.Environment["OMP_DISPLAY_ENV"] = "VERBOSE";

            using Process child = Process.Start(start)!;
            Task<string> output = child.StandardOutput.ReadToEndAsync();
            Task<string> errors = child.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            await child.WaitForExitAsync(timeout.Token);
            string stderr = await errors;

            Assert.Equal(0, child.ExitCode);
            Assert.Contains("\"executable\":true", (await output).Replace(" ", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
            // libgomp's own report of the environment it initialised from.
            Assert.Contains("OPENMP DISPLAY ENVIRONMENT BEGIN", stderr, StringComparison.Ordinal);
            Assert.Contains($"OMP_WAIT_POLICY = '{policy}'", stderr, StringComparison.Ordinal);
            Assert.Equal(sleepsAtOnce, stderr.Contains("GOMP_SPINCOUNT = '0'", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(model);
        }
    }
}
