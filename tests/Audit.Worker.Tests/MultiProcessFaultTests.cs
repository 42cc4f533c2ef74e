using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Audit.Worker.Tests.Support;
using Xunit.Abstractions;

namespace Audit.Worker.Tests;

/// <summary>
/// One API and three worker processes on one database and store, 30 audits, and a worker killed with SIGKILL every few
/// seconds and started again: every audit finishes exactly once (one report, one transparency log entry), no log index
/// repeats, every report's inclusion proof verifies, and every pair of tree heads seen while it ran is consistent.
/// SQLite and files here; PostgreSQL and S3 when <c>AUDIT_TEST_POSTGRES</c> / <c>AUDIT_TEST_S3_URL</c> are set
/// (<see cref="Deployment"/>). Audits are the cheapest real ones: the trojan scan without evidence runs only the model
/// inventory on the example CNN, so most of an audit is claiming, loading the model, storing and issuing the signed
/// report, which is where a kill has to be survived.
/// </summary>
public sealed partial class MultiProcessFaultTests(ITestOutputHelper output)
{
    private const int Audits = 30;
    private const int Workers = 3;

    /// <summary>How long the run may go without one more audit finishing before it counts as stuck.</summary>
    private static readonly TimeSpan StallLimit = TimeSpan.FromMinutes(3);

    [SharedLogFact]
    public async Task WorkersKilledAtRandom_FinishEveryAuditExactlyOnce_OnOneConsistentLog()
    {
        using var deployment = new Deployment(new Dictionary<string, string>
        {
            ["Audit__Worker__LeaseDuration"] = "00:00:04",
            ["Audit__Worker__PollInterval"] = "00:00:00.250",
            // Kills land on the same audit more than three times now and then; here that must mean a retry, not a failure.
            ["Audit__Worker__MaxAttempts"] = "1000",
        });
        output.WriteLine($"Backend: {deployment.Backend}; data in {deployment.Root}");
        try
        {
            await RunAsync(deployment);
        }
        catch
        {
            output.WriteLine(deployment.Tail(40));
            throw;
        }
    }

    private async Task RunAsync(Deployment deployment)
    {
        (Process _, HttpClient http) = await deployment.StartApiAsync();
        byte[] model = await File.ReadAllBytesAsync(Path.Combine(Deployment.RepositoryRoot(), "examples", "fashion-cnn-clean.onnx"));
        string modelId = await UploadAsync(http, model);
        var ids = new List<string>();
        for (int i = 0; i < Audits; i++)
        {
            using HttpResponseMessage submitted = await http.PostAsJsonAsync("api/v1/audits", new { modelArtifactId = modelId, profileId = "trojan-scan" });
            Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
            ids.Add((await Json(submitted))["id"]!.GetValue<string>());
        }

        var workers = Enumerable.Range(0, Workers).Select(_ => deployment.StartWorker()).ToList();

        // Tree heads as a monitor sees them while the log grows.
        using var stopWatching = new CancellationTokenSource();
        var heads = new ConcurrentBag<(long Size, string Root)>();
        Task watching = WatchTreeHeadsAsync(http, heads, stopWatching.Token);

        var random = new Random(20261130);
        var clock = Stopwatch.StartNew();
        TimeSpan nextKill = TimeSpan.FromSeconds(1);
        // Kills follow progress as well as time: on an idle machine the 30 audits can finish within seconds, and a
        // time-only schedule would then kill almost nothing. One kill after every few audits keeps the test honest
        // on fast and slow machines alike. A kill on the clock waits for at least one audit to finish since the last
        // kill: on a loaded machine (a fresh-clone CI run beside two other processes, load 20–30) a worker took longer
        // to start than the clock's 0.5–1.5 s, so kills on time alone starved every worker (22 of 30 audits after 170
        // kills in 4 minutes) and the test measured the machine, not the recovery.
        const int AuditsPerKill = 2;
        long nextKillAt = AuditsPerKill;
        long succeededAtLastKill = 0;
        int kills = 0;
        long succeeded = 0;
        // The run must keep making progress, not finish by a wall-clock deadline: a fixed 4 minutes failed a fresh-clone
        // run beside two survey processes (load 15–20, 2026-12-02: 25 of 30 audits, none failed, after 24 kills), which
        // measured the machine. A stall — no audit finishing for three minutes while workers are restarted — is what a
        // lost lease or a stuck claim would look like.
        TimeSpan lastProgress = TimeSpan.Zero;
        while (succeeded < Audits)
        {
            Assert.True(clock.Elapsed - lastProgress < StallLimit, $"no audit finished for {StallLimit.TotalMinutes:0} minutes: {succeeded} of {Audits} succeeded after {kills} kills");
            await Task.Delay(250);
            JsonNode failed = await GetJsonAsync(http, "api/v1/audits?pageSize=200&status=failed");
            Assert.Equal(0, failed["total"]!.GetValue<long>());
            long succeededSoFar = (await GetJsonAsync(http, "api/v1/audits?pageSize=200&status=succeeded"))["total"]!.GetValue<long>();
            if (succeededSoFar > succeeded)
            {
                lastProgress = clock.Elapsed;
            }

            succeeded = succeededSoFar;
            if (((clock.Elapsed >= nextKill && succeeded > succeededAtLastKill) || succeeded >= nextKillAt) && succeeded < Audits)
            {
                nextKillAt = succeeded + AuditsPerKill;
                succeededAtLastKill = succeeded;
                int victim = random.Next(workers.Count);
                Deployment.Kill(workers[victim]);
                kills++;
                workers[victim] = deployment.StartWorker();
                nextKill = clock.Elapsed + TimeSpan.FromSeconds(0.5 + random.NextDouble());
            }
        }

        TimeSpan runTime = clock.Elapsed;

        // Every audit's report: issued by its worker, or, where a kill interrupted that, by this download.
        var reports = new Dictionary<string, (string Sha256, long Index, byte[] Entry)>();
        foreach (string id in ids)
        {
            using HttpResponseMessage pdf = await http.GetAsync(new Uri($"api/v1/audits/{id}/report", UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, pdf.StatusCode);
            string sha256 = Convert.ToHexStringLower(SHA256.HashData(await pdf.Content.ReadAsByteArrayAsync()));
            JsonArray entries = (await GetJsonAsync(http, $"api/v1/transparency/entries?reportSha256={sha256}")).AsArray();
            JsonNode entry = Assert.Single(entries)!;
            reports[id] = (sha256, entry["index"]!.GetValue<long>(), Convert.FromBase64String(entry["entryBase64"]!.GetValue<string>()));
        }

        await stopWatching.CancelAsync();
        await watching;
        JsonNode head = await GetJsonAsync(http, "api/v1/transparency/tree-head");
        long size = head["treeSize"]!.GetValue<long>();
        byte[] root = Convert.FromHexString(head["rootHash"]!.GetValue<string>());
        heads.Add((size, head["rootHash"]!.GetValue<string>()));

        // Exactly once: one report per audit, each logged once, no index shared by two reports.
        Assert.Equal(Audits, reports.Values.Select(r => r.Index).Distinct().Count());
        Assert.Equal(Audits, reports.Values.Select(r => r.Sha256).Distinct().Count());

        // A worker killed after appending its report's entry but before storing the report leaves that entry with no
        // report (ReportIssuer: the log only grows) and the report is issued again under a new entry. Such entries
        // name a PDF that was never handed out; they are counted here, and there can be no more of them than kills.
        long orphans = size - Audits;
        Assert.InRange(orphans, 0, kills);

        foreach ((string id, (_, long index, byte[] entry)) in reports)
        {
            JsonNode proof = await GetJsonAsync(http, $"api/v1/transparency/proofs/inclusion?index={index}&treeSize={size}");
            Assert.True(
                Rfc9162.VerifyInclusion(index, size, Rfc9162.LeafHash(entry), Hashes(proof["auditPath"]!), root),
                $"the inclusion proof of {id}'s report (index {index}) does not verify against the tree head of size {size}");
        }

        // One root per size, and each head seen is consistent with the next larger one (and so with every later one).
        var seen = heads.Where(h => h.Size > 0).Distinct().OrderBy(h => h.Size).ToList();
        foreach (IGrouping<long, (long Size, string Root)> sameSize in seen.GroupBy(h => h.Size))
        {
            Assert.True(sameSize.Count() == 1, $"two different roots for tree size {sameSize.Key}");
        }

        for (int i = 1; i < seen.Count; i++)
        {
            (long first, string firstRoot) = seen[i - 1];
            (long second, string secondRoot) = seen[i];
            JsonNode consistency = await GetJsonAsync(http, $"api/v1/transparency/proofs/consistency?first={first}&second={second}");
            Assert.True(
                Rfc9162.VerifyConsistency(first, second, Convert.FromHexString(firstRoot), Convert.FromHexString(secondRoot), Hashes(consistency["path"]!)),
                $"the tree heads of sizes {first} and {second} are not consistent");
        }

        int reclaimed = deployment.LogLines().Select(l => ClaimLine().Match(l)).Count(m => m.Success && int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) > 1);
        output.WriteLine(
            $"{Audits} audits on {Workers} workers in {runTime.TotalSeconds:F0} s with {kills} SIGKILLs; {reclaimed} claims were re-claims of an " +
            $"audit whose worker was killed; {seen.Count} distinct tree heads seen, all consistent; final tree size {size} ({orphans} entries " +
            "left by a kill between log append and report store).");
        Assert.True(kills >= 3, $"only {kills} kills happened: the run was too short to test anything");
    }

    private static async Task WatchTreeHeadsAsync(HttpClient http, ConcurrentBag<(long, string)> heads, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                JsonNode head = await GetJsonAsync(http, "api/v1/transparency/tree-head", stop);
                heads.Add((head["treeSize"]!.GetValue<long>(), head["rootHash"]!.GetValue<string>()));
                await Task.Delay(200, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static async Task<string> UploadAsync(HttpClient http, byte[] content)
    {
        using var form = new MultipartFormDataContent { { new ByteArrayContent(content), "file", "model.onnx" }, { new StringContent("model"), "kind" } };
        using HttpResponseMessage response = await http.PostAsync(new Uri("api/v1/artifacts", UriKind.Relative), form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await Json(response))["id"]!.GetValue<string>();
    }

    private static async Task<JsonNode> GetJsonAsync(HttpClient http, string path, CancellationToken cancellationToken = default)
    {
        using HttpResponseMessage response = await http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(cancellationToken)}");
        return await Json(response, cancellationToken);
    }

    private static async Task<JsonNode> Json(HttpResponseMessage response, CancellationToken cancellationToken = default) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken))!;

    private static List<byte[]> Hashes(JsonNode array) => [.. array.AsArray().Select(h => Convert.FromHexString(h!.GetValue<string>()))];

    [GeneratedRegex(@"Audit claimed \(attempt (\d+)\)")]
    private static partial Regex ClaimLine();
}
