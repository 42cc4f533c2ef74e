using System.Globalization;
using Audit.Domain.Findings;
using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>Lays a <see cref="ReportModel"/> out as a PDF document (not yet saved or signed).</summary>
public static class ReportRenderer
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>
    /// Builds the document. Compression is left to <see cref="PdfOutput"/>: PDFsharp's own deflate output draws
    /// warnings from <c>qpdf --check</c>.
    /// </summary>
    public static PdfDocument Render(ReportModel model)
    {
        ReportFonts.EnsurePdfSharp();
        var document = new PdfDocument();
        PdfOutput.Configure(document);
        document.Info.Title = $"Model audit report {model.ReportId}";
        document.Info.Subject = $"Audit {model.AuditId} of {model.Model.Name} against profile {model.Profile.Id} {model.Profile.Version}";
        document.Info.Author = "Audit service";
        document.Info.Creator = $"Audit {model.ServiceVersion}";
        document.Info.CreationDate = model.IssuedAt.UtcDateTime;
        document.Info.Elements.SetString(ReportClaims.InfoKey, ReportClaims.From(model).ToJson());
        // --- verifyopen: verification facts in XMP (block 1 of 2) ---
        if (model.Verification is { } facts)
        {
            ReportXmp.Attach(document, model, facts);
        }

        using var writer = new PdfPageWriter(document);
        WriteCover(writer, model);
        WriteControls(writer, model);
        WriteMethodology(writer, model);
        WriteInventory(writer, model);
        // --- verifyopen: verification facts as text (block 2 of 2) ---
        if (model.Verification is { } verification)
        {
            writer.Heading("Where to verify this report", writer.Heading1);
            writer.Paragraph($"Verify it at {verification.VerifyUrl} (no account needed); how verification works: {verification.DocsUrl}.");
            writer.Table(["Fact", "Value"], [0.35, 0.65], [
                ["Transparency log index", verification.LogIndex.ToString(Invariant)],
                ["Issuing service", verification.ServiceUrl],
                ["Root certificate SHA-256", verification.RootFingerprintSha256],
            ]);
        }

        writer.Finish($"Audit report {model.ReportId}");
        return document;
    }

    private static void WriteCover(PdfPageWriter writer, ReportModel model)
    {
        writer.Heading("Model audit report", writer.Title, keepWithNext: 200);
        writer.Paragraph($"Overall verdict: {VerdictText(model.Verdict)}", writer.Heading2, VerdictBrush(model.Verdict));
        writer.Table(
            ["Field", "Value"],
            [0.28, 0.72],
            [
                ["Report ID", model.ReportId],
                ["Audit ID", model.AuditId],
                ["Tenant", model.Tenant],
                ["Model", model.Model.Name],
                ["Model SHA-256", model.Model.Sha256],
                ["Dataset", model.Dataset?.Name ?? "none"],
                ["Dataset SHA-256", model.Dataset?.Sha256 ?? "none"],
                ["Profile", $"{model.Profile.Id} version {model.Profile.Version}"],
                ["Profile content hash", model.Profile.ContentHash],
                ["Overall verdict", VerdictText(model.Verdict)],
                ["Submitted", Date(model.SubmittedAt)],
                ["Completed", Date(model.CompletedAt)],
                ["Report issued", Date(model.IssuedAt)],
                ["Compute device", model.Device],
                ["Service version", model.ServiceVersion],
            ],
            writer.Small);

        writer.Heading("Executive summary", writer.Heading1);
        foreach (var paragraph in model.ExecutiveSummary)
        {
            writer.Paragraph(paragraph);
        }

        writer.Table(
            ["Control", "Clause", "Verdict", "Reason"],
            [0.2, 0.2, 0.14, 0.46],
            model.Controls.Select(c => (IReadOnlyList<string>)[$"{c.ControlId}: {c.Title}", c.Clause, VerdictText(c.Verdict), c.Reason]));
    }

    private static void WriteControls(PdfPageWriter writer, ReportModel model)
    {
        writer.NewPage();
        writer.Heading("Controls", writer.Heading1);
        foreach (var control in model.Controls)
        {
            writer.Heading($"{control.ControlId}: {control.Title}", writer.Heading2);
            writer.Paragraph($"Clause: {control.Clause}");
            writer.Paragraph($"Verdict: {VerdictText(control.Verdict)}. {control.Reason}", writer.Bold, VerdictBrush(control.Verdict));
            if (control.Findings.Count == 0)
            {
                writer.Paragraph("No probe findings were recorded for this control.");
                continue;
            }

            writer.Table(
                ["Probe", "Verdict", "Score", "Statistic", "Threshold", "Method"],
                [0.17, 0.11, 0.09, 0.11, 0.11, 0.41],
                control.Findings.Select(f => (IReadOnlyList<string>)
                    [f.Probe, VerdictText(f.Verdict), Number(f.Score), Number(f.Statistic), Number(f.Threshold), f.Citation]));

            foreach (var finding in control.Findings)
            {
                writer.Paragraph($"{finding.Probe}: {finding.Summary}");
                foreach (var image in finding.Images)
                {
                    writer.Image(image.Png, image.Caption, 160, 160);
                }

                foreach (var chart in finding.Charts)
                {
                    writer.Image(ReportCharts.Render(chart), chart.Title, writer.ContentWidth, 260);
                }
            }
        }
    }

    private static void WriteMethodology(PdfPageWriter writer, ReportModel model)
    {
        writer.NewPage();
        writer.Heading("Methodology", writer.Heading1);
        writer.Bullets(model.Methodology.Methods);
        writer.Heading("Limitations", writer.Heading1);
        writer.Bullets(model.Methodology.Limitations);
        writer.Heading("Reproducibility", writer.Heading1);
        writer.Paragraph("Rerunning the audit with these inputs and settings reproduces the findings above.");
        writer.Table(["Setting", "Value"], [0.35, 0.65], model.Methodology.Reproducibility.Select(i => (IReadOnlyList<string>)[i.Name, i.Value]));
    }

    private static void WriteInventory(PdfPageWriter writer, ReportModel model)
    {
        writer.NewPage();
        writer.Heading("Appendix A: model inventory", writer.Heading1);
        writer.Table(["Item", "Value"], [0.35, 0.65], model.ModelInventory.Select(i => (IReadOnlyList<string>)[i.Name, i.Value]));
        writer.Heading("Appendix B: verifying this report", writer.Heading1);
        writer.Paragraph(
            "This document carries a PAdES baseline B-B signature (ETSI.CAdES.detached, ECDSA P-256, SHA-256) over the whole file. " +
            "Check it with POST /api/v1/verifications, the /verify page, or offline with pdfsig and openssl cms -verify against the published root certificate " +
            "(GET /api/v1/signing-keys). Its receipt is recorded in the service's transparency log.");
    }

    private static string VerdictText(Verdict verdict) => verdict switch
    {
        Verdict.Pass => "PASS",
        Verdict.Fail => "FAIL",
        _ => "INCONCLUSIVE",
    };

    private static XSolidBrush VerdictBrush(Verdict verdict) => verdict switch
    {
        Verdict.Pass => XBrushes.DarkGreen,
        Verdict.Fail => XBrushes.DarkRed,
        _ => XBrushes.DarkOrange,
    };

    private static string Number(double? value) => value is { } v ? v.ToString("0.###", Invariant) : "n/a";

    private static string Date(DateTimeOffset value) => value.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", Invariant);
}
