using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests;

/// <summary>The service as the README starts it (<c>dotnet run --project src/Audit.Api</c>), driven over real HTTP.</summary>
public sealed class RealProcessTests
{
    [Fact]
    public async Task ReadmeRunCommand_ServesTheFlowWithDevelopmentKeys()
    {
        string repository = RepositoryRoot();
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        int port = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = repository,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[] { "run", "--project", "src/Audit.Api", "--no-build", "--", "--urls", $"http://127.0.0.1:{port}", "--Audit:DataDirectory", data })
        {
            start.ArgumentList.Add(argument);
        }

        // As the README starts it: without the oneDNN limit scripts/test.sh may give the test processes, so the service
        // chooses its own (Evaluators' OneDnnInstructionSet).
        start.Environment.Remove(Audit.Evaluators.Runtime.OneDnnInstructionSet.Variable);
        start.Environment.Remove(Audit.Evaluators.Runtime.OneDnnInstructionSet.LegacyVariable);
        string? expectedLimit = await OneDnnInstructionSetSelectionTests.ExpectedLimitAsync();

        using Process process = Process.Start(start)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitUntilReadyAsync(http, process, output);

            string log;
            lock (output)
            {
                log = output.ToString();
            }

            Assert.Contains($"listening on http://127.0.0.1:{port}", log, StringComparison.Ordinal);
            // Ready only after the worker warmed the probes up (Audit:Worker:WarmUp, on by default).
            Assert.Contains("Probes warmed up in", log, StringComparison.Ordinal);
            Assert.Contains("X-Api-Key", log, StringComparison.Ordinal);
            // The most capable oneDNN instruction set whose convolutions are right here, and oneDNN kept under it.
            Assert.Contains($"oneDNN instruction-set limit: {expectedLimit ?? "none"} (", log, StringComparison.Ordinal);
            if (expectedLimit is not null)
            {
                Assert.Contains($"Convolutions run on oneDNN: float32 convolutions matched float64", log, StringComparison.Ordinal);
                Assert.Contains($"oneDNN limited to the {expectedLimit} instruction set", log, StringComparison.Ordinal);
            }

            // libtorch is not asked for NNPACK any more (it warned at every convolution where it cannot run).
            Assert.DoesNotContain("Could not initialize NNPACK", log, StringComparison.Ordinal);
            string key = (await File.ReadAllTextAsync(Path.Combine(data, "dev-keys", "compliance.key"))).Trim();
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "dev-keys", "compliance.key")));
            }

            http.DefaultRequestHeaders.Add("X-Api-Key", key);

            string model = await http.UploadIdAsync(TestModels.Conv2d, "model");
            HttpResponseMessage submitted = await http.SubmitAsync(new { modelArtifactId = model, profileId = "trojan-scan" });
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            JsonNode done = await http.WaitForAuditAsync((await submitted.JsonAsync())["id"]!.GetValue<string>());

            Assert.Equal("succeeded", done["status"]!.GetValue<string>());
            lock (output)
            {
                // Every line of the run carries the audit id.
                Assert.Contains($"Audit {done["id"]}", output.ToString(), StringComparison.Ordinal);
            }
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>
    /// How long the service may take to answer ready. The limit only keeps a service that never gets ready from hanging
    /// the suite; it is not a speed target (those live in docs/benchmarks.md). Ready waits for the probe warm-up, about
    /// 25 s on an idle 2-core machine, and the suite runs four test projects at once: at a load of 13 on two cores
    /// (2026-12-02, a fresh-clone run) 90 s was not enough.
    /// </summary>
    private static readonly TimeSpan ReadyLimit = TimeSpan.FromMinutes(5);

    private static async Task WaitUntilReadyAsync(HttpClient http, Process process, System.Text.StringBuilder output)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyLimit)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException("The service exited: " + output);
            }

            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("The service did not become ready: " + output);
    }

    private static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Audit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Audit.sln not found above the test directory.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
