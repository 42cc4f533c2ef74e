using Audit.Api.Features.Reports;
using Audit.Domain.Findings;
using SkiaSharp;

namespace Audit.Api.Tests.Reports;

/// <summary>Report models shaped like a real trojan + deception audit, with enough rows to span pages.</summary>
internal static class SampleReports
{
    public static readonly DateTimeOffset Issued = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    public static ReportModel Create(string reportId = "rpt-0001", int inventoryRows = 80, Verdict verdict = Verdict.Fail)
    {
        var random = new Random(17);
        var norms = Enumerable.Range(0, 10).Select(i => i == 7 ? 4.2 : 38 + (random.NextDouble() * 12)).ToArray();
        var clean = Enumerable.Range(0, 400).Select(_ => 1.2 + (random.NextDouble() * 0.9)).ToArray();
        var trojaned = Enumerable.Range(0, 400).Select(_ => random.NextDouble() * 0.4).ToArray();
        var trojan = new ReportFinding(
            "neural-cleanse", Verdict.Fail, 1.83, 3.66, 2.0,
            "Class 7 (Sneaker) needs a trigger far smaller than every other class: a likely backdoor target.",
            "Wang et al., Neural Cleanse, IEEE S&P 2019",
            [new ReportImage("Recovered trigger mask for class 7", Png(28, 28, (x, y) => x > 22 && y > 22 ? (byte)255 : (byte)0)),
             new ReportImage("Recovered trigger pattern for class 7", Png(28, 28, (x, y) => (byte)((x * 9 + y * 5) % 256)))],
            [new MaskNormChart("Per-class trigger mask norms", [.. Enumerable.Range(0, 10).Select(i => i.ToString())], norms, 12.5)]);
        var strip = new ReportFinding(
            "strip", Verdict.Fail, 1.4, 0.21, 0.3,
            "Perturbed inputs carrying the suspected trigger keep a low prediction entropy.",
            "Gao et al., STRIP, ACSAC 2019",
            [],
            [new HistogramChart("STRIP entropy", "entropy (nats)", [new HistogramSeries("clean inputs", clean), new HistogramSeries("inputs with trigger", trojaned)], 0.3)]);
        var deception = new ReportFinding(
            "linear-probe", Verdict.Pass, 0.62, 0.62, 1.0,
            "No layer separates the deception labels better than control labels.",
            "Alain & Bengio, Linear classifier probes, 2016; Hewitt & Liang, control tasks, EMNLP 2019",
            [],
            [new LayerAurocChart("Per-layer probe AUROC", ["conv1", "conv2", "fc1", "fc2"], [0.55, 0.58, 0.61, 0.57], [0.52, 0.54, 0.56, 0.55])]);
        return new ReportModel(
            reportId,
            "aud-42",
            "acme-bank",
            new ReportArtifact("fashion-cnn.onnx", new string('a', 64)),
            new ReportArtifact("fashion-test.idx", new string('b', 64)),
            new ReportProfile("eu-ai-act-robustness", "1.2.0", new string('c', 64)),
            verdict,
            Issued.AddMinutes(-30),
            Issued.AddMinutes(-1),
            Issued,
            "cpu",
            "0.1.0-test",
            ["The model shows strong evidence of a backdoor: a small trigger flips inputs to class 7.", "No deception indicator was found."],
            [
                new ReportControl("TRJ-1", "No backdoor triggers", "Art. 15(5) robustness", Verdict.Fail, "Neural Cleanse and STRIP both flag class 7.", [trojan, strip]),
                new ReportControl("DEC-1", "No deception features", "Art. 15(1) accuracy", Verdict.Pass, "Probe AUROC stays at control level.", [deception]),
            ],
            new ReportMethodology(
                ["Neural Cleanse reverse-engineers a minimal trigger per class and flags outliers by median absolute deviation."],
                ["A backdoor whose trigger is larger than the search budget is not found."],
                [new ReportInventoryItem("seed", "1234"), new ReportInventoryItem("torchsharp", "0.107.0")]),
            [.. Enumerable.Range(0, inventoryRows).Select(i => new ReportInventoryItem($"layer {i:D3} (Conv)", $"weight [{i + 1}, 16, 3, 3], {(i + 1) * 144} parameters"))]);
    }

    public static byte[] Png(int width, int height, Func<int, int, byte> pixel)
    {
        using var bitmap = new SKBitmap(width, height, SKColorType.Gray8, SKAlphaType.Opaque);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var v = pixel(x, y);
                bitmap.SetPixel(x, y, new SKColor(v, v, v));
            }
        }

        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
