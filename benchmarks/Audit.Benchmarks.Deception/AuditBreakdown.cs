using System.Diagnostics;
using System.Globalization;
using Audit.Domain.Profiles;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using TorchSharp;

/// <summary>
/// Where the time of one eu-gpai-systemic-deception audit goes: its probes run through one evaluation session, in the
/// profile's order, as the audit worker runs them, each timed in wall and process CPU seconds.
/// </summary>
internal static class AuditBreakdown
{
    public static async Task<int> RunAsync(string model, string evidence, int seed, int threads, int lanes, string? findingsFile, string? skip = null)
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
        using Process self = Process.GetCurrentProcess();

        // Resident memory sampled every 50 ms: with one probe at a time (--lanes -1), the peak while each ran (glibc keeps
        // freed heap, so a probe's peak includes what earlier probes left resident).
        long rssNow = 0;
        int current = -1;
        var rssPeaks = new long[64];
        using var sampling = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                rssNow = ResidentBytes();
                int slot = Volatile.Read(ref current);
                if (slot >= 0 && rssNow > rssPeaks[slot])
                {
                    rssPeaks[slot] = rssNow;
                }

                await Task.Delay(50, CancellationToken.None);
            }
        });
        var total = Stopwatch.StartNew();
        TimeSpan cpuStart = self.TotalProcessorTime;
        using (EvaluationSession session = runner.Open(model, evidence, "cpu", seed, lanes: lanes > 0 ? lanes : null))
        {
            Console.WriteLine($"profile {profile.Id} {profile.Version}, host libtorch threads {torch.get_num_threads()}, lanes {session.Lanes}{(lanes < 0 ? " (one probe at a time, awaited before the next starts)" : "")}, seed {seed}, load {Load()}");
            Console.WriteLine("| probe | start (s) | wall (s) | CPU (s) | peak RSS while it ran (MiB) | verdict | score |");
            Console.WriteLine("|---|---:|---:|---:|---:|---|---:|");
            // --skip leaves probes out (e.g. to time the others on a model whose trigger search alone takes the limit).
            string[] skipped = skip?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
            ProbeRequirement[] requirements = profile.Controls.SelectMany(c => c.Probes).Where(r => !skipped.Contains(r.Probe)).ToArray();
            var starts = new double[requirements.Length];
            var ends = new double[requirements.Length];
            var cpus = new double[requirements.Length];
            var runs = new Task<ProbeOutcome>[requirements.Length];
            for (int i = 0; i < requirements.Length; i++)
            {
                int slot = i;
                ProbeRequirement requirement = requirements[i];
                self.Refresh();
                TimeSpan cpu = self.TotalProcessorTime;

                // As the audit worker does: every probe started at once, the session schedules them (lanes < 0: one by one).
                runs[i] = session.RunAsync(
                    new ProbeInvocation(requirement.Probe, requirement.Parameters, requirement.Threshold), new Progress<double>(), CancellationToken.None, () => starts[slot] = total.Elapsed.TotalSeconds);
                _ = runs[i].ContinueWith(_ => ends[slot] = total.Elapsed.TotalSeconds, TaskScheduler.Default);
                if (lanes < 0)
                {
                    Volatile.Write(ref current, slot);
                    await runs[i];
                    Volatile.Write(ref current, -1);
                    self.Refresh();
                    cpus[i] = (self.TotalProcessorTime - cpu).TotalSeconds;
                }
            }

            for (int i = 0; i < requirements.Length; i++)
            {
                ProbeRequirement requirement = requirements[i];
                ProbeOutcome outcome = await runs[i];
                await Task.Delay(10); // the end time is written by a continuation
                self.Refresh();
                findings[requirement.Probe] = new System.Text.Json.Nodes.JsonObject
                {
                    ["verdict"] = outcome.Verdict.ToString(), ["score"] = outcome.Score, ["summary"] = outcome.Summary, ["details"] = outcome.Details.DeepClone(),
                };
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {requirement.Probe} | {starts[i]:F1} | {ends[i] - starts[i]:F1} | {(lanes < 0 ? cpus[i].ToString("F1", CultureInfo.InvariantCulture) : "–")} | {(lanes < 0 ? (rssPeaks[i] >> 20).ToString(CultureInfo.InvariantCulture) : "–")} | {outcome.Verdict} | {outcome.Score:F3} |"));
            }
        }

        sampling.Cancel();
        await sampler;
        self.Refresh();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| total | | {total.Elapsed.TotalSeconds:F1} | {(self.TotalProcessorTime - cpuStart).TotalSeconds:F1} | | | |"));
        Console.WriteLine($"peak RSS {self.PeakWorkingSet64 / (1024 * 1024)} MiB, load at the end {Load()}");
        if (findingsFile is not null)
        {
            File.WriteAllText(findingsFile, findings.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }

        return 0;
    }

    private static long ResidentBytes()
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)) : null;
        return line is null ? 0 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
    }

    private static string Load() => File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ')[..3]) : "n/a";
}
