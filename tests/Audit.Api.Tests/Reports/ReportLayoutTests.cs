using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Features.Audits;
using Audit.Api.Features.Reports;
using Audit.Api.Tests.Support;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Audit.Evaluators.Probes.Trojans;
using Audit.Testing;

namespace Audit.Api.Tests.Reports;

/// <summary>
/// Issue #17: the report reads right. Charts agree with their findings, pages are laid out without orphans or
/// near-empty pages, the findings travel inside the signed PDF, and the settings needed to rerun the audit are named.
/// </summary>
public sealed class ReportLayoutTests
{
    private static readonly DateTimeOffset Issued = new(2026, 11, 25, 15, 0, 0, TimeSpan.Zero);

    private static ProbeCatalog Catalog() => new([new NeuralCleanseProbe(), new StripProbe(), new LinearDeceptionProbe()]);

    /// <summary>
    /// A reference-calibrated Neural Cleanse finding that flags class 3, while class 7 has the smallest raw mask:
    /// a chart drawn from raw norms would mark class 7, contradicting the finding.
    /// </summary>
    private static AuditReportInput CalibratedInput()
    {
        var input = ReportModelBuilderTests.Input();
        var details = (JsonObject)input.Findings.Single(f => f.Probe == "neural-cleanse").Details!;
        details["calibration"] = "reference";
        details["suspectedTargetClass"] = 3;
        details["anomalyIndices"] = new JsonArray(0.0, 0.0, 0.3, 3.1, 0.0, 0.4, 0.0, 1.2, 0.0, 0.0);
        return input;
    }

    [Fact]
    public void NeuralCleanseChart_FlagsExactlyTheClassesTheCalibratedFindingFlags()
    {
        var input = CalibratedInput();
        var model = ReportModelBuilder.Build(input, Catalog(), Issued);

        var finding = model.Controls[0].Findings.Single(f => f.Probe == "neural-cleanse");
        var chart = Assert.IsType<AnomalyIndexChart>(Assert.Single(finding.Charts));
        var details = input.Findings.Single(f => f.Probe == "neural-cleanse").Details!;
        var expected = details["anomalyIndices"]!.AsArray().Select((v, i) => (Value: v!.GetValue<double>(), Class: i))
            .Where(x => x.Value >= details["threshold"]!.GetValue<double>()).Select(x => x.Class.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(expected, ReportCharts.FlaggedLabels(chart));
        Assert.Equal(["3"], ReportCharts.FlaggedLabels(chart));
        Assert.Equal(finding.Threshold, chart.Threshold);
    }

    [Fact]
    public void RenderedChartCaption_NamesTheFlaggedClass()
    {
        using var directory = new TempDirectory();
        var path = directory.File("report.pdf");
        File.WriteAllBytes(path, PdfOutput.Save(ReportRenderer.Render(ReportModelBuilder.Build(CalibratedInput(), Catalog(), Issued))));

        var (exitCode, text) = Tools.Run("pdftotext", path, "-");

        Assert.Equal(0, exitCode);
        Assert.Contains("Flagged (drawn in red): class 3.", text.Replace("\n", " ", StringComparison.Ordinal));
        Assert.DoesNotContain("class 7.", text, StringComparison.Ordinal);
    }

    [Fact]
    public void SampleMaskNormChart_FlagsTheClassItsFindingNames()
    {
        var finding = SampleReports.Create().Controls[0].Findings.Single(f => f.Probe == "neural-cleanse");

        // The sample finding's summary names class 7 as the backdoor target.
        Assert.Equal(["7"], ReportCharts.FlaggedLabels(Assert.Single(finding.Charts)));
    }

    public static TheoryData<string> Models() => ["sample", "built", "calibrated-pass"];

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryPageButTheLast_IsAtLeastAQuarterFull_AndNoPageEndsOnATableHeader(string which)
    {
        var model = which switch
        {
            "sample" => SampleReports.Create(),
            "built" => ReportModelBuilder.Build(ReportModelBuilderTests.Input(), Catalog(), Issued),
            _ => SampleReports.Create(inventoryRows: 3, verdict: Audit.Domain.Findings.Verdict.Pass),
        };

        var (document, layout) = ReportRenderer.RenderWithLayout(model);
        using (document)
        {
            var fill = layout.PageFill;
            Assert.Equal(document.PageCount, fill.Count);
            for (var page = 0; page < fill.Count - 1; page++)
            {
                Assert.True(fill[page] >= 0.25, $"Page {page + 1} of {fill.Count} is only {fill[page]:P0} full.");
            }

            Assert.All(layout.Blocks, b => Assert.True(b.Bottom <= layout.PageContentHeight + 0.01, $"{b.Kind} on page {b.Page} overflows the page."));
            foreach (var page in layout.Blocks.GroupBy(b => b.Page))
            {
                var last = page.OrderBy(b => b.Top).Last();
                Assert.True(last.Kind is not ("table-header" or "heading"), $"Page {page.Key} ends with a {last.Kind}.");
            }
        }
    }

    [Fact]
    public void SummaryFitsOnThePageOne_AndControlsStartAfterIt()
    {
        using var directory = new TempDirectory();
        var path = directory.File("report.pdf");
        File.WriteAllBytes(path, PdfOutput.Save(ReportRenderer.Render(SampleReports.Create())));

        var page1 = Tools.Run("pdftotext", "-f", "1", "-l", "1", path, "-").Output;

        Assert.Contains("What was tested", page1);
        Assert.Contains("What failed and why", page1);
        Assert.Contains("What it means", page1);
        Assert.DoesNotContain("Controls", page1.Split('\n'), StringComparer.Ordinal);
    }

    [Fact]
    public async Task SignedReport_CarriesTheAuditFindingsAsAnAttachedJsonFile()
    {
        using var directory = new TempDirectory();
        using var services = new ReportServices(directory.Path);
        var input = ReportModelBuilderTests.Input();
        var model = ReportModelBuilder.Build(input, Catalog(), Issued);
        var issued = await services.Issuer.IssueAsync(model, CancellationToken.None);
        var path = directory.File("signed.pdf");
        await File.WriteAllBytesAsync(path, (await services.Store.ReadPdfAsync(issued.ReportId, CancellationToken.None))!);

        var (listExit, list) = Tools.Run("pdfdetach", "-list", path);
        var saved = directory.File("findings-out.json");
        var (saveExit, saveOutput) = Tools.Run("pdfdetach", "-save", "1", "-o", saved, path);

        Assert.Equal(0, listExit);
        Assert.Contains(ReportRenderer.FindingsAttachmentName, list);
        Assert.True(saveExit == 0, saveOutput);
        var attached = JsonNode.Parse(await File.ReadAllTextAsync(saved))!;
        Assert.True(JsonNode.DeepEquals(JsonSerializer.SerializeToNode(input.Findings, JsonSerializerOptions.Web), attached["findings"]), attached.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonSerializer.SerializeToNode(input.Controls, JsonSerializerOptions.Web), attached["controls"]));
        Assert.Equal("aud_1", (string?)attached["auditId"]);
        // Attached before signing: the signature still covers the whole file.
        var pdfsig = Tools.Run("pdfsig", path).Output;
        Assert.Contains("Signature is Valid.", pdfsig);
        Assert.Contains("Total document signed", pdfsig);
    }

    [Fact]
    public void Reproducibility_NamesSeedEveryEffectiveParameterAndTheRuntime()
    {
        using var directory = new TempDirectory();
        var path = directory.File("report.pdf");
        var model = ReportModelBuilder.Build(ReportModelBuilderTests.Input(), Catalog(), Issued);
        File.WriteAllBytes(path, PdfOutput.Save(ReportRenderer.Render(model)));

        var text = Tools.Run("pdftotext", "-raw", path, "-").Output.Replace("\n", " ", StringComparison.Ordinal);

        Assert.Contains("seed 42", text);
        var settings = model.Methodology.Reproducibility.ToDictionary(i => i.Name, i => i.Value);
        foreach (var descriptor in Catalog().Descriptors)
        {
            foreach (var parameter in descriptor.Parameters)
            {
                var row = settings.Single(s => s.Key.EndsWith("/ " + descriptor.Name, StringComparison.Ordinal)).Value;
                Assert.Contains($"{parameter.Name} = {parameter.Default.GetRawText()}", row, StringComparison.Ordinal);
            }
        }

        Assert.Contains("threshold 0.5;", settings["trojans / strip"], StringComparison.Ordinal);
        Assert.Contains("(probe default)", settings["deception / linear-deception"], StringComparison.Ordinal);
        Assert.Contains("maxSteps = 400", text);
        foreach (var name in new[] { "TorchSharp", "libtorch", "libtorch intra-op threads", "convolution kernels", ".NET", "operating system", "service commit" })
        {
            Assert.False(string.IsNullOrWhiteSpace(settings[name]), name);
            Assert.Contains(name, text);
        }

        Assert.DoesNotContain("parameters defaults", text);
        Assert.StartsWith(Audit.Evaluators.Runtime.ConvolutionKernelCheck.EnsureVerified().Kernels + ":", settings["convolution kernels"], StringComparison.Ordinal);
    }

    [Fact]
    public void Limitations_QuoteEachProbesMeasuredErrorRatesWithTheirSource()
    {
        var model = ReportModelBuilder.Build(ReportModelBuilderTests.Input(), Catalog(), Issued);

        var rates = model.Methodology.ErrorRates!;

        Assert.Equal(["neural-cleanse", "strip", "linear-deception"], rates.Select(r => r.Probe));
        // Neural Cleanse's row is its held-out zoo rates, read from the file the zoo tool writes from the committed survey.
        var cleanse = rates[0];
        var zoo = Audit.Evaluators.Probes.Trojans.DetectorHeldOutRates.Embedded()!.For("neural-cleanse")!;
        Assert.StartsWith($"{zoo.FalseFails} of {zoo.Clean} clean held-out zoo models (", cleanse.FalsePositives, StringComparison.Ordinal);
        Assert.StartsWith($"{zoo.Backdoored - zoo.Detected} of {zoo.Backdoored} backdoored held-out zoo models missed", cleanse.FalseNegatives, StringComparison.Ordinal);
        var sourceSpecific = zoo.ByAttack.Single(a => a.Attack == "source-specific");
        Assert.Contains($"source-specific {sourceSpecific.Detected} of {sourceSpecific.Backdoored}", cleanse.FalseNegatives, StringComparison.Ordinal);
        Assert.Contains("docs/probes.md", cleanse.Source, StringComparison.Ordinal);
        // The quoted figure is the one the docs publish (their generated table, from the same survey lines).
        var docs = File.ReadAllText(Path.Combine(RepositoryRoot.Folder, "docs", "probes.md"));
        Assert.Contains($"| `neural-cleanse` (2) | {zoo.FalseFails}/{zoo.Clean} (", docs, StringComparison.Ordinal);
        // A probe the committed survey does not carry keeps its typed-in row.
        Assert.Contains("source-specific", ProbeErrorRates.For("label-specific-scan").FalseNegatives, StringComparison.Ordinal);
        // trojan-likelihood's row is its fitted model's test rates, the models it was inconclusive on (at chance) named.
        var likelihood = ProbeErrorRates.For("trojan-likelihood");
        var test = Audit.Evaluators.Probes.Trojans.TrojanLikelihoodModel.Embedded()!.Test!;
        Assert.StartsWith($"{test.FalseFails} of {test.Clean} clean test-split models", likelihood.FalsePositives, StringComparison.Ordinal);
        Assert.Equal(test.InconclusiveClean > 0, likelihood.FalsePositives.Contains($"inconclusive on {test.InconclusiveClean} more, at chance accuracy", StringComparison.Ordinal));
        Assert.Equal(test.InconclusiveBackdoored > 0, likelihood.FalseNegatives.Contains($"{test.InconclusiveBackdoored} of them inconclusive", StringComparison.Ordinal));
    }

    /// <summary>
    /// A supporting control of the 2.1.0 built-ins runs its detector at the threshold set on the design split; the
    /// limitations table quotes the held-out rates counted at that threshold, not the default's, and a threshold no
    /// survey counted is said to be unmeasured rather than given another threshold's rates.
    /// </summary>
    [Fact]
    public void Limitations_QuoteTheRatesOfTheThresholdEachControlRanAt()
    {
        var profile = Audit.Domain.Profiles.BuiltInProfiles.All.Single(p => p.Id == "trojan-scan" && p.Version == "2.1.0");
        var zoo = DetectorHeldOutRates.Embedded()!;

        var rates = ReportModelBuilder.Build(ReportModelBuilderTests.Input() with { Profile = profile }, new ProbeCatalog(TrojanProbes.All()), Issued).Methodology.ErrorRates!;

        var supporting = profile.Controls.Where(c => c.Role == Audit.Domain.Profiles.VerdictRole.Supporting).SelectMany(c => c.Probes).ToList();
        Assert.NotEmpty(supporting);
        Assert.All(supporting, requirement =>
        {
            var counted = zoo.For(requirement.Probe, requirement.Threshold!.Value);
            Assert.NotNull(counted);
            var row = Assert.Single(rates, r => r.Probe == requirement.Probe);
            Assert.StartsWith($"{counted.FalseFails} of {counted.Clean} clean held-out zoo models (", row.FalsePositives, StringComparison.Ordinal);
            Assert.Contains(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"read alone at threshold {requirement.Threshold:0.###}, "), row.Source, StringComparison.Ordinal);
        });
        // At least one of them is not at its probe default, so the rows differ from what the default would quote.
        Assert.Contains(supporting, r => zoo.For(r.Probe)!.Threshold != r.Threshold);
        var unmeasured = ProbeErrorRates.For("neural-cleanse", 7.77);
        Assert.Equal("not measured at threshold 7.77", unmeasured.FalsePositives);
        Assert.Contains("published at threshold", unmeasured.Source, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownProbe_IsRenderedFromItsDetails()
    {
        var input = ReportModelBuilderTests.Input();
        var details = new JsonObject { ["statistic"] = 0.83, ["threshold"] = 0.5, ["pTrojan"] = 0.83, ["method"] = "meta-classifier" };
        input = input with { Findings = [.. input.Findings, new FindingResponse("trojans", "trojan-likelihood", "fail", 1.66, "p(trojan) 0.83 above 0.5.", details)] };
        var model = ReportModelBuilder.Build(input, Catalog(), Issued);
        using var directory = new TempDirectory();
        var path = directory.File("report.pdf");
        File.WriteAllBytes(path, PdfOutput.Save(ReportRenderer.Render(model)));

        var text = Tools.Run("pdftotext", "-raw", path, "-").Output;

        Assert.Contains("trojan-likelihood: p(trojan) 0.83 above 0.5.", text);
        Assert.Contains("pTrojan 0.83", text);
        Assert.Contains("method meta-classifier", text);
    }
}
