using System.Diagnostics;
using System.Globalization;
using Audit.Domain.Profiles;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Audit.Evaluators.Probes.Trojans;
using TorchSharp;

/// <summary>
/// Where the time of one eu-gpai-systemic-deception audit goes: its probes run through one evaluation session, in the
/// profile's order, as the audit worker runs them, each timed in wall and process CPU seconds.
/// </summary>
internal static class AuditBreakdown
{
    public static async Task<int> RunAsync(string model, string evidence, int seed, int threads, string? findingsFile)
    {
        var findings = new System.Text.Json.Nodes.JsonObject();
        if (threads > 0)
        {
            torch.set_num_threads(threads);
        }

        Profile profile = BuiltInProfiles.All.Where(p => p.Id == "eu-gpai-systemic-deception").MaxBy(p => Version.Parse(p.Version))!;
        var catalog = new ProbeCatalog([
            new ModelInventoryProbe(), new CueDivergenceProbe(), new TriggerSearchProbe(), new TokenClassDominanceProbe(),
            new LinearDeceptionProbe(), new ContrastConsistentSearchProbe()]);
        var runner = new ProbeRunner(catalog, static (path, device) => new OnnxModelSource(path, device));
        Console.WriteLine($"profile {profile.Id} {profile.Version}, libtorch threads {torch.get_num_threads()}, seed {seed}, load {Load()}");
        Console.WriteLine("| probe | wall (s) | CPU (s) | verdict | score |");
        Console.WriteLine("|---|---:|---:|---|---:|");
        using Process self = Process.GetCurrentProcess();
        var total = Stopwatch.StartNew();
        TimeSpan cpuStart = self.TotalProcessorTime;
        using (EvaluationSession session = runner.Open(model, evidence, "cpu", seed))
        {
            foreach (ProbeRequirement requirement in profile.Controls.SelectMany(c => c.Probes))
            {
                self.Refresh();
                TimeSpan cpu = self.TotalProcessorTime;
                var wall = Stopwatch.StartNew();
                ProbeOutcome outcome = await session.RunAsync(
                    new ProbeInvocation(requirement.Probe, requirement.Parameters, requirement.Threshold), new Progress<double>(), CancellationToken.None);
                self.Refresh();
                findings[requirement.Probe] = new System.Text.Json.Nodes.JsonObject
                {
                    ["verdict"] = outcome.Verdict.ToString(), ["score"] = outcome.Score, ["summary"] = outcome.Summary, ["details"] = outcome.Details.DeepClone(),
                };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {requirement.Probe} | {wall.Elapsed.TotalSeconds:F1} | {(self.TotalProcessorTime - cpu).TotalSeconds:F1} | {outcome.Verdict} | {outcome.Score:F3} |"));
            }
        }

        self.Refresh();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| total | {total.Elapsed.TotalSeconds:F1} | {(self.TotalProcessorTime - cpuStart).TotalSeconds:F1} | | |"));
        Console.WriteLine($"peak RSS {self.PeakWorkingSet64 / (1024 * 1024)} MiB, load at the end {Load()}");
        if (findingsFile is not null)
        {
            File.WriteAllText(findingsFile, findings.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }

        return 0;
    }

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]) : "n/a";
}
