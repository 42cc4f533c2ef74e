// Stopwatch harness for report issuing and verification (docs/benchmarks.md). Not BenchmarkDotNet: one report takes
// hundreds of milliseconds, so a median over a few runs after a warm-up is stable enough on a shared 2-core machine.
using System.Diagnostics;
using System.Globalization;
using Audit.Api.Features.Reports;
using Audit.Api.Features.Transparency;
using Audit.Api.Features.Verifications;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;
using Audit.Domain.Findings;

int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
var directory = Path.Combine(Path.GetTempPath(), "audit-report-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(directory);
try
{
    using var pki = new EmbeddedPki(directory, new SigningOptions(), TimeProvider.System);
    using var store = new FileTransparencyLogStore(directory);
    using var log = new TransparencyLog(store, pki, TimeProvider.System);
    var reports = new FileIssuedReportStore(directory, new Audit.Api.Infrastructure.Artifacts.FileSystemBlobStorage(directory));
    var issuer = new ReportIssuer(new PadesSigner(pki, TimeProvider.System), log, reports, pki, new ServiceAddress("http://127.0.0.1:5080", () => null));
    var verifier = new ReportVerifier(pki, reports, log);

    // Warm-up: fonts, ScottPlot/Skia natives, JIT.
    var warm = await issuer.IssueAsync(TypicalReport.Create("rpt_warmup"), CancellationToken.None);
    await verifier.VerifyAsync((await reports.ReadPdfAsync(warm.ReportId, CancellationToken.None))!, CancellationToken.None);

    var issue = new List<double>();
    var verify = new List<double>();
    long size = 0;
    for (var i = 0; i < runs; i++)
    {
        var watch = Stopwatch.StartNew();
        var issued = await issuer.IssueAsync(TypicalReport.Create($"rpt_{i}"), CancellationToken.None);
        issue.Add(watch.Elapsed.TotalMilliseconds);
        size = issued.SizeBytes;

        var pdf = (await reports.ReadPdfAsync(issued.ReportId, CancellationToken.None))!;
        watch.Restart();
        var result = await verifier.VerifyAsync(pdf, CancellationToken.None);
        verify.Add(watch.Elapsed.TotalMilliseconds);
        if (!result.Valid)
        {
            throw new InvalidOperationException("A freshly issued report did not verify.");
        }
    }

    static string Stats(List<double> values)
    {
        var sorted = values.Order().ToList();
        return string.Create(CultureInfo.InvariantCulture, $"median {sorted[sorted.Count / 2]:F0} ms, min {sorted[0]:F0} ms, max {sorted[^1]:F0} ms");
    }

    Console.WriteLine($"runs: {runs}");
    Console.WriteLine($"issue (render + sign + log + receipt + store): {Stats(issue)}");
    Console.WriteLine($"verify (all six checks): {Stats(verify)}");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"report size: {size} bytes ({size / 1024.0:F0} KiB)"));
}
finally
{
    Directory.Delete(directory, recursive: true);
}

/// <summary>A typical report: three controls, trojan evidence images and charts, a 120-row model inventory.</summary>
internal static class TypicalReport
{
    public static ReportModel Create(string reportId)
    {
        var random = new Random(5);
        double[] Series(int n, double offset, double spread) => [.. Enumerable.Range(0, n).Select(_ => offset + (random.NextDouble() * spread))];
        byte[] mask = ReportCharts.Render(new MaskNormChart("mask", ["0", "1"], [1, 2], 1)); // any real PNG will do as "evidence"
        var trojan = new ReportFinding("neural-cleanse", Verdict.Fail, 1.6, 3.2, 2, "Class 3 needs a far smaller trigger than the others.",
            "Wang et al., Neural Cleanse, IEEE S&P 2019", [new ReportImage("Recovered mask", mask), new ReportImage("Recovered pattern", mask)],
            [new MaskNormChart("Per-class mask norms", [.. Enumerable.Range(0, 10).Select(i => i.ToString(CultureInfo.InvariantCulture))], Series(10, 20, 30), 12)]);
        var strip = new ReportFinding("strip", Verdict.Pass, 0.4, 0.12, 0.3, "Entropy of perturbed inputs stays high.", "Gao et al., STRIP, ACSAC 2019", [],
            [new HistogramChart("STRIP entropy", "entropy", [new HistogramSeries("clean", Series(500, 1, 1)), new HistogramSeries("perturbed", Series(500, 0.8, 1))], 0.3)]);
        var deception = new ReportFinding("linear-probe", Verdict.Inconclusive, null, null, null, "Too few labelled statements.", "Alain & Bengio 2016", [],
            [new LayerAurocChart("Per-layer AUROC", ["l1", "l2", "l3", "l4", "l5", "l6"], Series(6, 0.5, 0.2), Series(6, 0.45, 0.1))]);
        return new ReportModel(
            reportId, "aud_bench", "bench", new ReportArtifact("model.onnx", new string('1', 64)), new ReportArtifact("data.safetensors", new string('2', 64)),
            new ReportProfile("eu-ai-act-art15", "1.0.0", "sha256:" + new string('3', 64)), Verdict.Fail,
            DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddMinutes(20), DateTimeOffset.UnixEpoch.AddMinutes(21), "cpu", "bench",
            ["A backdoor was found in class 3.", "Deception indicators were inconclusive."],
            [new ReportControl("TRJ-1", "No backdoor", "Art. 15(5)", Verdict.Fail, "Neural Cleanse flags class 3.", [trojan, strip]),
             new ReportControl("DEC-1", "No deception", "Art. 15(1)", Verdict.Inconclusive, "Not enough evidence.", [deception]),
             new ReportControl("INV-1", "Inventory", "Art. 11", Verdict.Pass, "Inventory recorded.", [])],
            new ReportMethodology(["Neural Cleanse", "STRIP", "Linear probes"], ["Evidence, not proof."], [new ReportInventoryItem("seed", "1")]),
            [.. Enumerable.Range(0, 120).Select(i => new ReportInventoryItem($"node {i}", $"Conv weight [{i}, 3, 3, 3]"))]);
    }
}
