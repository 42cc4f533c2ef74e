using Audit.Api.Features.Reports;
using Audit.Api.Tests.Support;
using UglyToad.PdfPig;

namespace Audit.Api.Tests.Reports;

/// <summary>What a reader finds in the report: text, fonts, images, tables across pages.</summary>
public sealed class ReportContentTests(IssuedReportFixture fixture) : IClassFixture<IssuedReportFixture>
{
    [Fact]
    public void Text_IsExtractableWithPdfPig_AndCarriesTheCoverFacts()
    {
        using var document = PdfDocument.Open(fixture.Pdf);
        var text = string.Join("\n", document.GetPages().Select(p => string.Join(" ", p.GetWords().Select(w => w.Text))));

        Assert.Contains("rpt-fixture", text);
        Assert.Contains("aud-42", text);
        Assert.Contains(new string('a', 64), text); // model SHA-256
        Assert.Contains("eu-ai-act-robustness", text);
        Assert.Contains("Art. 15(5)", text);
        Assert.Contains("Neural Cleanse, IEEE S&P 2019", text);
        Assert.Contains("Methodology", text);
        Assert.Contains("Appendix A: model inventory", text);
    }

    [Fact]
    public void Text_IsExtractableWithPdftotext()
    {
        var path = fixture.WritePdf("text.pdf");

        var (exitCode, output) = Tools.Run("pdftotext", path, "-");

        Assert.Equal(0, exitCode);
        Assert.Contains("Overall verdict: FAIL", output);
        Assert.Contains("Executive summary", output);
    }

    [Fact]
    public void Fonts_AreTheEmbeddedDejaVuFaces()
    {
        var path = fixture.WritePdf("fonts.pdf");

        var (_, output) = Tools.Run("pdffonts", path);
        var fonts = output.Split('\n').Skip(2).Where(l => l.Length > 0).ToList();

        Assert.NotEmpty(fonts);
        Assert.All(fonts, line =>
        {
            Assert.Contains("DejaVu", line);
            Assert.Matches(@"\byes\s+yes\b", line); // embedded and subset
        });
    }

    [Fact]
    public void InventoryTable_BreaksAcrossPages_WithItsHeaderRepeated()
    {
        using var document = PdfDocument.Open(fixture.Pdf);
        var inventoryPages = document.GetPages()
            .Where(p => p.GetWords().Any(w => w.Text == "(Conv)"))
            .ToList();

        Assert.True(inventoryPages.Count >= 2, $"80 inventory rows should need more than one page, got {inventoryPages.Count}.");
        Assert.All(inventoryPages, page =>
        {
            var words = page.GetWords().ToList();
            var header = words.First(w => w.Text == "Item");
            // "(Conv)" only occurs in inventory rows; "layer" also occurs in the findings text the table now shares a page with.
            var firstRow = words.First(w => w.Text == "(Conv)");
            Assert.True(header.BoundingBox.Bottom > firstRow.BoundingBox.Top, "The header sits above the rows on every page.");
        });
    }

    [Fact]
    public void EvidenceImagesAndCharts_AreEmbedded()
    {
        using var document = PdfDocument.Open(fixture.Pdf);
        var images = document.GetPages().Sum(p => p.GetImages().Count());

        // Two trigger images + mask-norm chart + STRIP histogram + AUROC chart.
        Assert.Equal(5, images);
    }

    [Fact]
    public void Claims_AreEmbeddedInTheDocumentInformation()
    {
        using var document = PdfDocument.Open(fixture.Pdf);
        var token = Assert.IsType<UglyToad.PdfPig.Tokens.StringToken>(document.Information.DocumentInformationDictionary!.Data["AuditClaims"]);
        var claims = ReportClaims.TryParse(token.Data);

        Assert.NotNull(claims);
        Assert.Equal("rpt-fixture", claims.ReportId);
        Assert.Equal("fail", claims.Verdict);
        Assert.Equal(new string('c', 64), claims.ProfileContentHash);
    }
}
