using System.Globalization;
using System.Text;
using Audit.Domain.Findings;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes.Trojans;
using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>Lays a <see cref="ReportModel"/> out as a PDF document (not yet saved or signed).</summary>
public static class ReportRenderer
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    /// <summary>File name of the machine-readable findings attached to every report.</summary>
    public const string FindingsAttachmentName = "findings.json";

    /// <summary>
    /// Builds the document. Compression is left to <see cref="PdfOutput"/>: PDFsharp's own deflate output draws
    /// warnings from <c>qpdf --check</c>.
    /// </summary>
    public static PdfDocument Render(ReportModel model) => RenderWithLayout(model).Document;

    /// <summary>Builds the document and returns where its blocks were placed, for layout checks.</summary>
    internal static (PdfDocument Document, ReportLayout Layout) RenderWithLayout(ReportModel model)
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

        ReportLayout layout;
        using (var writer = new PdfPageWriter(document))
        {
            WriteSummary(writer, model);
            writer.SectionBreak();
            WriteIdentification(writer, model);
            WriteControls(writer, model);
            WriteMethodology(writer, model);
            WriteInventory(writer, model);
            WriteVerificationFacts(writer, model);
            writer.Finish($"Audit report {model.ReportId}");
            layout = writer.Layout;
        }

        if (model.FindingsJson is { } findings)
        {
            PdfAttachments.Attach(document, FindingsAttachmentName, "application/json", Encoding.UTF8.GetBytes(findings),
                $"Machine-readable findings of audit {model.AuditId}", model.IssuedAt);
        }

        return (document, layout);
    }

    /// <summary>
    /// Page one: the verdict, what was tested, what failed and why, and what it means. Every detail follows from page
    /// two on.
    /// </summary>
    private static void WriteSummary(PdfPageWriter writer, ReportModel model)
    {
        writer.Heading("Model audit report", writer.Title, keepWithNext: 120);
        writer.Paragraph($"Overall verdict: {VerdictText(model.Verdict)}", writer.Heading2, VerdictBrush(model.Verdict));
        writer.Paragraph(
            $"{model.Model.Name} (SHA-256 {model.Model.Sha256}) against profile {model.Profile.Id} version {model.Profile.Version}; " +
            $"audit {model.AuditId}, report issued {Date(model.IssuedAt)}.",
            writer.Small, XBrushes.DimGray);

        writer.Heading("Executive summary", writer.Heading1);
        foreach (var paragraph in model.ExecutiveSummary)
        {
            writer.Paragraph(paragraph);
        }

        writer.Heading("What was tested", writer.Heading2, keepWithNext: 30);
        writer.Bullets(model.Controls.Select(c =>
            $"{c.ControlId} {c.Title} ({c.Clause}): {VerdictText(c.Verdict)}{(c.Role == VerdictRole.Supporting ? " (supporting evidence, not counted in the verdict)" : "")}. Probes: " +
            (c.Findings.Count == 0 ? "none recorded" : string.Join(", ", c.Findings.Select(f => $"{ProbeLabel(f)} {VerdictText(f.Verdict)}"))) + "."));

        writer.Heading("What failed and why", writer.Heading2, keepWithNext: 30);
        var failed = model.Controls.Where(c => c.Role == VerdictRole.Verdict && c.Verdict != Verdict.Pass).ToList();
        if (failed.Count == 0)
        {
            writer.Paragraph("Nothing: every control that decides the verdict passed.");
        }
        else
        {
            writer.Bullets(failed.Select(c =>
                $"{c.ControlId} {VerdictText(c.Verdict)}: {c.Reason}" +
                string.Concat(c.Findings
                    .Where(f => f.Role == VerdictRole.Verdict && f.Verdict != Verdict.Pass && !c.Reason.Contains(f.Summary, StringComparison.Ordinal))
                    .Select(f => $" {f.Probe}: {f.Summary}"))));
        }

        // Supporting evidence is shown, never hidden: a reader sees what the individual detectors flagged, and that it did not decide.
        var flaggedSupport = model.Controls.SelectMany(c => c.Findings.Where(f => f.Verdict == Verdict.Fail && (c.Role == VerdictRole.Supporting || f.Role == VerdictRole.Supporting))
            .Select(f => $"{c.ControlId} / {f.Probe}")).ToList();
        if (flaggedSupport.Count > 0)
        {
            writer.Paragraph($"Supporting evidence that flagged (reported for inspection, not counted in the verdict): {string.Join(", ", flaggedSupport)}.");
        }

        writer.Heading("What it means", writer.Heading2, keepWithNext: 30);
        writer.Paragraph(model.Verdict switch
        {
            Verdict.Pass => "The probes found no evidence of the risks this profile covers at their thresholds. This is evidence, not proof: see the limitations and each probe's measured error rates.",
            Verdict.Fail => "At least one control found evidence of a risk the profile covers. Read the failing findings' evidence (pages that follow) before deploying the model, and weigh each flag by the probe's measured false-positive rate under Limitations.",
            _ => "At least one control could not be decided: evidence was missing or a probe could not complete. The model has not passed; supply the missing evidence or rerun before relying on the report.",
        });

    }

    /// <summary>Where and how anyone can verify this report: its log index, the service, the root's fingerprint.</summary>
    private static void WriteVerificationFacts(PdfPageWriter writer, ReportModel model)
    {
        if (model.Verification is not { } verification)
        {
            return;
        }

        writer.Heading("Where to verify this report", writer.Heading1);
        writer.Paragraph($"Verify it at {verification.VerifyUrl} (no account needed); how verification works: {verification.DocsUrl}.");
        writer.Table(["Fact", "Value"], [0.35, 0.65], [
            ["Transparency log index", verification.LogIndex.ToString(Invariant)],
            ["Issuing service", verification.ServiceUrl],
            ["Root certificate SHA-256", verification.RootFingerprintSha256],
        ]);
    }

    /// <summary>The identifiers that tie the report to its inputs: the first page of the details.</summary>
    private static void WriteIdentification(PdfPageWriter writer, ReportModel model)
    {
        var identification = new List<IReadOnlyList<string>>
        {
            new[] { "Report ID", model.ReportId },
            new[] { "Audit ID", model.AuditId },
            new[] { "Tenant", model.Tenant },
            new[] { "Model", model.Model.Name },
            new[] { "Model SHA-256", model.Model.Sha256 },
            new[] { "Dataset", model.Dataset?.Name ?? "none" },
            new[] { "Dataset SHA-256", model.Dataset?.Sha256 ?? "none" },
            new[] { "Profile", $"{model.Profile.Id} version {model.Profile.Version}" },
            new[] { "Profile content hash", model.Profile.ContentHash },
            new[] { "Submitted / completed / issued", $"{Date(model.SubmittedAt)} / {Date(model.CompletedAt)} / {Date(model.IssuedAt)}" },
            new[] { "Compute device", model.Device },
            new[] { "Service version", model.ServiceVersion },
        };
        writer.Heading("Audit identification", writer.Heading1, keepWithNext: writer.TableStartHeight(["Field", "Value"], [0.28, 0.72], identification[0]));
        writer.Table(["Field", "Value"], [0.28, 0.72], identification);
    }

    private static void WriteControls(PdfPageWriter writer, ReportModel model)
    {
        string[] headers = ["Probe", "Verdict", "Score", "Statistic", "Threshold", "Method"];
        double[] widths = [0.19, 0.11, 0.08, 0.11, 0.12, 0.39];
        IReadOnlyList<string> Row(ReportFinding f) =>
            [ProbeLabel(f), VerdictText(f.Verdict), Number(f.Score), Number(f.Statistic), Number(f.Threshold), f.Citation];

        writer.Heading("Controls", writer.Heading1, keepWithNext: 120);
        foreach (var control in model.Controls)
        {
            var clause = $"Clause: {control.Clause}";
            var verdict = $"{(control.Role == VerdictRole.Supporting ? "Supporting control, not counted in the audit's verdict. " : "")}Verdict: {VerdictText(control.Verdict)}. {control.Reason}";
            var first = control.Findings.Count == 0
                ? writer.ParagraphHeight("No probe findings were recorded for this control.")
                : writer.TableStartHeight(headers, widths, Row(control.Findings[0]));
            writer.Heading($"{control.ControlId}: {control.Title}", writer.Heading2,
                keepWithNext: writer.ParagraphHeight(clause) + writer.ParagraphHeight(verdict, writer.Bold) + first);
            writer.Paragraph(clause);
            writer.Paragraph(verdict, writer.Bold, VerdictBrush(control.Verdict));
            if (control.Findings.Count == 0)
            {
                writer.Paragraph("No probe findings were recorded for this control.");
                continue;
            }

            writer.Table(headers, widths, control.Findings.Select(Row));
            foreach (var finding in control.Findings)
            {
                var charts = finding.Charts.Select(c => (Png: ReportCharts.Render(c), Caption: ReportCharts.Caption(c))).ToList();
                var next = finding.Images.Count > 0 ? writer.ImageHeight(finding.Images[0].Png, finding.Images[0].Caption, 140, 140)
                    : charts.Count > 0 ? writer.ImageHeight(charts[0].Png, charts[0].Caption, writer.ContentWidth, 240)
                    : finding.Figures is { Count: > 0 } shown ? writer.TableStartHeight(["Measured", "Value"], [0.35, 0.65], [shown[0].Name, shown[0].Value])
                    : 0;
                writer.Paragraph($"{ProbeLabel(finding)}: {finding.Summary}", keepWithNext: finding.Probability is null ? next : 60);
                if (finding.Probability is { } probability)
                {
                    writer.Paragraph($"What {finding.Probe}'s number means", writer.Bold, keepWithNext: 60);
                    writer.Bullets(ProbabilityMeaning(probability));
                }

                if (finding.Images.Count > 0)
                {
                    writer.ImageRow([.. finding.Images.Select(i => (i.Png, i.Caption))], 140, 140);
                }

                foreach (var (png, caption) in charts)
                {
                    writer.Image(png, caption, writer.ContentWidth, 240);
                }

                // A probe the report draws nothing for still shows what it measured; so does trigger search, whose
                // causal-trace heat map shows where the trigger acts but not the test's own figures.
                if (finding.Charts.All(c => c is CausalTraceChart) && finding.Images.Count == 0 && finding.Figures is { Count: > 0 } figures)
                {
                    writer.Table(["Measured", "Value"], [0.35, 0.65], figures.Select(f => (IReadOnlyList<string>)[f.Name, f.Value]));
                }
            }
        }
    }

    private static void WriteMethodology(PdfPageWriter writer, ReportModel model)
    {
        writer.Heading("Methodology", writer.Heading1, keepWithNext: 80);
        writer.Bullets(model.Methodology.Methods);
        writer.Heading("Limitations", writer.Heading1, keepWithNext: 80);
        writer.Bullets(model.Methodology.Limitations);
        if (model.Methodology.ErrorRates is { Count: > 0 } rates)
        {
            string[] headers = ["Probe", "False positives (clean models flagged)", "False negatives (backdoored or deceptive models missed)", "Measured in"];
            double[] widths = [0.17, 0.28, 0.28, 0.27];
            var rows = rates.Select(r => (IReadOnlyList<string>)[r.Probe, r.FalsePositives, r.FalseNegatives, r.Source]).ToList();
            const string intro = "Measured error rates of the probes this profile runs, as published with the service (docs/probes.md):";
            writer.Paragraph(intro, keepWithNext: writer.TableStartHeight(headers, widths, rows[0]));
            writer.Table(headers, widths, rows);
        }

        writer.Heading("Reproducibility", writer.Heading1, keepWithNext: 80);
        writer.Paragraph(
            "Rerunning the audit with these inputs and settings on the same library versions, device and thread count reproduces the findings above. " +
            "Each probe's row lists every parameter it ran with, defaults filled in.");
        writer.Table(["Setting", "Value"], [0.3, 0.7], model.Methodology.Reproducibility.Select(i => (IReadOnlyList<string>)[i.Name, i.Value]));
    }

    private static void WriteInventory(PdfPageWriter writer, ReportModel model)
    {
        writer.Heading("Appendix A: model inventory", writer.Heading1,
            keepWithNext: writer.TableStartHeight(["Item", "Value"], [0.35, 0.65], model.ModelInventory.Count > 0 ? [model.ModelInventory[0].Name, model.ModelInventory[0].Value] : null));
        writer.Table(["Item", "Value"], [0.35, 0.65], model.ModelInventory.Select(i => (IReadOnlyList<string>)[i.Name, i.Value]));
        writer.Heading("Appendix B: verifying this report", writer.Heading1);
        writer.Paragraph(
            "This document carries a PAdES baseline B-B signature (ETSI.CAdES.detached, ECDSA P-256, SHA-256) over the whole file. " +
            "Check it with POST /api/v1/verifications, the /verify page, or offline with pdfsig and openssl cms -verify against the published root certificate " +
            "(GET /api/v1/signing-keys). Its receipt is recorded in the service's transparency log.");
        if (model.FindingsJson is not null)
        {
            writer.Paragraph(
                $"The audit's findings are attached to this file as {FindingsAttachmentName} (the same JSON the API returns), inside the signed bytes; " +
                $"extract them with pdfdetach -save 1 or any PDF viewer's attachments panel.");
        }
    }

    private static string ProbeLabel(ReportFinding finding) =>
        finding.Role == VerdictRole.Supporting ? $"{finding.Probe} (supporting)" : finding.Probe;

    /// <summary>
    /// What a calibrated probability, its interval, its threshold and the measured error rates mean, in words a
    /// compliance officer can repeat: the figures come from the finding, the reading from docs/probes.md.
    /// </summary>
    internal static IReadOnlyList<string> ProbabilityMeaning(ReportProbability p)
    {
        var floor = p.MinimumThreshold > 0 ? string.Create(Invariant, $" (the threshold is never below {p.MinimumThreshold:0.00}).") : ".";
        // The conformal threshold answers "how often does a clean model score this high", not "is a backdoor more likely
        // than not", so a reader must not take a failed model's p below 0.5 for a contradiction.
        var belowEvenOdds = p.Threshold < 0.5
            ? " The threshold is set by that rate, not at even odds: a model can fail with p(trojan) below 0.50, because at most that share of clean models scores as high."
            : "";
        var lines = new List<string>
        {
            string.Create(Invariant,
                $"p(trojan) = {p.Probability:0.00}: among the service's reference models (small image classifiers trained clean or backdoored from fixed seeds, its model zoo's calibration split) " +
                $"that the detectors scored like this one, about {p.Probability:0%} carried a backdoor. It assumes the audited model resembles those models and is backdoored about as often as they were; " +
                $"for models unlike them (other data, architectures or attacks) it is not a measured probability."),
            string.Create(Invariant,
                $"Interval {p.Lower:0.00}–{p.Upper:0.00}: {p.IntervalMethod}. A wide interval means few reference models were scored like this one."),
            p.ConformalThreshold
                ? string.Create(Invariant,
                    $"Threshold {p.Threshold:0.00}: the model fails when p(trojan) ≥ {p.Threshold:0.00}. It was set by split-conformal calibration on {p.CalibrationCleanModels} clean reference models{(p.CalibrationClasses is > 10 and var k ? $" of {k} classes (this model has more than ten; the ten-class models' threshold would fail clean many-class models more often)" : "")} " +
                    $"for a target false-fail rate of {p.TargetFalseFailRate:0.#%}: a clean model like them fails with probability at most {p.GuaranteedFalseFailRate:0.#%}{floor}{belowEvenOdds}")
                : string.Create(Invariant, $"Threshold {p.Threshold:0.00}, set by the profile: the model fails when p(trojan) ≥ {p.Threshold:0.00}; the conformal false-fail guarantee applies only to the default threshold."),
        };
        if (p.Test is { } t)
        {
            lines.Add(string.Create(Invariant,
                $"Measured error rates at the {(p.CalibrationClasses is > 10 ? (p.ConformalThreshold ? "ten-class default threshold (not this model's: its rates are the 43-class ones below)" : "ten-class default threshold") : "default threshold")}, on {t.Clean + t.Backdoored} held-out ten-class test models never used to fit or tune it: {t.FalseFails} of {t.Clean} clean models failed " +
                $"(false-fail rate {(t.Clean == 0 ? 0 : (double)t.FalseFails / t.Clean):0%}), {t.Misses} of {t.Backdoored} backdoored models were not caught (miss rate {(t.Backdoored == 0 ? 0 : (double)t.Misses / t.Backdoored):0%}), " +
                $"AUROC {t.Auroc:0.000}; {t.RightTarget} of {t.Detected} detected models were given the right target class.{t.InconclusiveClause} These samples are small (docs/probes.md, \"Model zoo: results\", gives their intervals)."));
            if (t.ByAttack is { Count: > 0 } attacks)
            {
                lines.Add($"Backdoored test models caught, by attack family: {LikelihoodAttackRates.CaughtList(attacks)}." + (LikelihoodAttackRates.WeaklyCaught(attacks) is { Count: > 0 } weak
                    ? $" The scan caught {string.Join(" and ", weak)} backdoors less than half the time, so a pass is weak evidence against them."
                    : ""));
            }

            if (t.ByPlacement is { Count: > 0 } placements)
            {
                lines.Add($"All-to-one patch triggers caught, by where they sat: {LikelihoodAttackRates.CaughtList(placements)}." + (LikelihoodAttackRates.WeaklyCaught(placements) is { Count: > 0 } weakPlaces
                    ? $" The scan caught a {string.Join(" or a ", weakPlaces)} less than half the time (on the zoo's images, a patch drawn over the object), so a pass is weak evidence against one."
                    : ""));
            }
        }
        else
        {
            lines.Add("No error rates measured on held-out models are recorded with this finding.");
        }

        if (p.ManyClassTest is { } m)
        {
            lines.Add(string.Create(Invariant,
                $"Beyond the models it was fitted on: on {m.Clean + m.Backdoored} held-out 43-class colour image classifiers (the test split of the zoo's many-class slice, 3×32×32, never used to fit or calibrate it), " +
                // Findings since 2026-12-07 record calibrationClasses, and their 43-class rates were counted at the threshold set on the slice's other splits.
                $"{(p.CalibrationClasses is null ? "the same threshold" : "the default threshold for models of more than ten classes")} failed {m.FalseFails} of {m.Clean} clean models and missed {m.Misses} of {m.Backdoored} backdoored ones (AUROC {m.Auroc:0.000}); " +
                $"{m.RightTarget} of {m.Detected} detected models were given the right target class.{m.InconclusiveClause}{(p.ForeignTest is null && p.UnfamiliarTest is null ? " Rates on models further from the zoo are not measured." : "")}"));
        }

        if (p.UnfamiliarTest is { } unfamiliar)
        {
            // Trained by the project, but by recipes no fitted or calibrating model had: how the rates carry over to
            // models built the way other teams build them.
            lines.Add(string.Create(Invariant,
                $"On training recipes it never saw: on {unfamiliar.Clean + unfamiliar.Backdoored} held-out classifiers trained by recipes no fitted or calibrating model had (SGD with Nesterov momentum and shifted batches, or AdamW with label smoothing and mirrored batches; many of them LeNet-5 and VGG-style networks, architectures the fit never saw; some trained on all 60,000 Fashion-MNIST training images; patches anywhere in the image), " +
                $"the same threshold failed {unfamiliar.FalseFails} of {unfamiliar.Clean} clean models and missed {unfamiliar.Misses} of {unfamiliar.Backdoored} backdoored ones (AUROC {unfamiliar.Auroc:0.000}); " +
                $"{unfamiliar.RightTarget} of {unfamiliar.Detected} detected models were given the right target class.")
                + unfamiliar.InconclusiveClause
                + (p.ForeignTest is null ? " Models trained with other code are not in this reading." : ""));
        }

        if (p.ForeignTest is { } f)
        {
            // The zoo's models all come from the project's own trainer; these did not, so they are the nearest
            // reading of how the verdict does on the models a regulator will actually bring.
            lines.Add(string.Create(Invariant,
                $"On models the project did not train: on {f.Clean + f.Backdoored} classifiers trained with other code (PyTorch), other architectures, optimisers and trigger placements and exported to ONNX by their own tools, " +
                $"the same threshold failed {f.FalseFails} of {f.Clean} clean models and missed {f.Misses} of {f.Backdoored} backdoored ones (AUROC {f.Auroc:0.000}); " +
                $"{f.RightTarget} of {f.Detected} detected models were given the right target class.") +
                (f.ByAttack is { Count: > 0 } foreignAttacks
                    ? $" Caught by attack: {LikelihoodAttackRates.CaughtList(foreignAttacks)}." + (LikelihoodAttackRates.WeaklyCaught(foreignAttacks) is { Count: > 0 } weakForeign
                        ? $" A pass is weak evidence against {string.Join(" and ", weakForeign)} backdoors there."
                        : "")
                    : ""));
            if (p.ForeignSeenWhenChosen is { } seen && p.ForeignUnseenTest is { } u)
            {
                // Models read before the fit was chosen may have shaped it: only the others are a clean reading.
                lines.Add(string.Create(Invariant,
                    $"{seen} of those {f.Clean + f.Backdoored} models had been read when this fit was chosen, so they may have shaped it. On the other {u.Clean + u.Backdoored}, read only after it was chosen, " +
                    $"the same threshold failed {u.FalseFails} of {u.Clean} clean models and missed {u.Misses} of {u.Backdoored} backdoored ones (AUROC {u.Auroc:0.000}); " +
                    $"{u.RightTarget} of {u.Detected} detected models were given the right target class."));
            }
        }

        if (p.SuspectedClass is { } suspected)
        {
            // Findings before 2026-12-01 carry no suspectedClassFrom: their class was always Neural Cleanse's.
            lines.Add(p.SuspectedClassFrom is null or "neural-cleanse"
                ? string.Create(Invariant, $"Suspected target class {suspected}: the class Neural Cleanse's smallest recovered trigger leads to (its statistics raised p most); it is named whether or not the model is flagged.")
                : string.Create(Invariant, $"Suspected target class {suspected}: the class {p.SuspectedClassFrom} names, the detector whose statistic raised p most; it is named whether or not the model is flagged."));
        }

        lines.Add("The individual detectors' findings reported beside it are the evidence p(trojan) was computed from; they are shown for inspection and do not decide the verdict.");
        lines.Add(p.FittedModel is { } fit
            ? $"Fitted model: {fit.Generated}, SHA-256 {fit.Sha256}. A refit on more reference models changes p for the same model and evidence; this fit, the same evidence, seed and service version reproduce it."
            : "The fitted model that gave p(trojan) is not recorded with this finding.");
        return lines;
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
