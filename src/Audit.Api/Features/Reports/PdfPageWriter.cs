using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>
/// A small flowing layout on top of PDFsharp's XGraphics: a cursor that moves down the page, starts a new page when
/// the next block does not fit, wraps text, and repeats a table's header on every page the table continues on.
/// </summary>
internal sealed class PdfPageWriter : IDisposable
{
    private const double Margin = 50;
    private const double FooterSpace = 30;
    private const double CellPadding = 3;

    private readonly PdfDocument _document;
    private PdfPage? _page;
    private XGraphics? _graphics;
    private double _y;

    public PdfPageWriter(PdfDocument document)
    {
        _document = document;
        Body = new XFont(ReportFonts.Sans, 9.5);
        Bold = new XFont(ReportFonts.Sans, 9.5, XFontStyleEx.Bold);
        Small = new XFont(ReportFonts.Sans, 8);
        SmallBold = new XFont(ReportFonts.Sans, 8, XFontStyleEx.Bold);
        Mono = new XFont(ReportFonts.Mono, 7.5);
        Title = new XFont(ReportFonts.Sans, 20, XFontStyleEx.Bold);
        Heading1 = new XFont(ReportFonts.Sans, 14, XFontStyleEx.Bold);
        Heading2 = new XFont(ReportFonts.Sans, 11, XFontStyleEx.Bold);
        NewPage();
    }

    public XFont Body { get; }

    public XFont Bold { get; }

    public XFont Small { get; }

    public XFont SmallBold { get; }

    public XFont Mono { get; }

    public XFont Title { get; }

    public XFont Heading1 { get; }

    public XFont Heading2 { get; }

    public double ContentWidth => _page!.Width.Point - (2 * Margin);

    private XGraphics Graphics => _graphics!;

    private double Bottom => _page!.Height.Point - Margin - FooterSpace;

    public void NewPage()
    {
        _graphics?.Dispose();
        _page = _document.AddPage();
        _page.Size = PdfSharp.PageSize.A4;
        _graphics = XGraphics.FromPdfPage(_page);
        _y = Margin;
    }

    public void Space(double points) => _y += points;

    /// <summary>A heading kept together with at least <paramref name="keepWithNext"/> points of what follows.</summary>
    public void Heading(string text, XFont font, double keepWithNext = 60)
    {
        var height = font.GetHeight() * 1.3;
        EnsureSpace(height + keepWithNext);
        _y += 4;
        Graphics.DrawString(text, font, XBrushes.Black, new XRect(Margin, _y, ContentWidth, height), XStringFormats.TopLeft);
        _y += height + 2;
    }

    public void Paragraph(string text, XFont? font = null, XBrush? brush = null, double indent = 0)
    {
        font ??= Body;
        var lineHeight = font.GetHeight() * 1.2;
        foreach (var line in Wrap(text, font, ContentWidth - indent))
        {
            EnsureSpace(lineHeight);
            Graphics.DrawString(line, font, brush ?? XBrushes.Black, new XRect(Margin + indent, _y, ContentWidth - indent, lineHeight), XStringFormats.TopLeft);
            _y += lineHeight;
        }

        _y += lineHeight * 0.4;
    }

    public void Bullets(IEnumerable<string> items)
    {
        foreach (var item in items)
        {
            var lineHeight = Body.GetHeight() * 1.2;
            EnsureSpace(lineHeight);
            Graphics.DrawString("•", Body, XBrushes.Black, new XRect(Margin + 4, _y, 10, lineHeight), XStringFormats.TopLeft);
            Paragraph(item, Body, indent: 16);
        }
    }

    /// <summary>
    /// A table whose rows never split; when the next row does not fit, the table continues on a new page under a
    /// repeated header row.
    /// </summary>
    public void Table(IReadOnlyList<string> headers, IReadOnlyList<double> widthFractions, IEnumerable<IReadOnlyList<string>> rows, XFont? font = null)
    {
        font ??= Small;
        var widths = widthFractions.Select(f => f * ContentWidth).ToArray();
        var lineHeight = font.GetHeight() * 1.15;
        var headerLines = headers.Select((h, i) => (IReadOnlyList<string>)Wrap(h, SmallBold, widths[i] - (2 * CellPadding))).ToArray();
        var headerHeight = (headerLines.Max(l => l.Count) * lineHeight) + (2 * CellPadding);

        void DrawHeader()
        {
            DrawRow(headerLines, widths, headerHeight, lineHeight, SmallBold, XBrushes.LightGray);
        }

        EnsureSpace(headerHeight + (3 * lineHeight));
        DrawHeader();
        var maximumLines = (int)((Bottom - Margin - headerHeight - (2 * CellPadding)) / lineHeight);
        foreach (var row in rows)
        {
            var cells = row.Select((text, i) =>
            {
                var lines = Wrap(text, font, widths[i] - (2 * CellPadding));
                // A cell taller than a page is cut rather than overflowing the page.
                return lines.Count > maximumLines ? [.. lines.Take(maximumLines - 1), "…"] : (IReadOnlyList<string>)lines;
            }).ToArray();
            var height = (cells.Max(c => c.Count) * lineHeight) + (2 * CellPadding);
            if (_y + height > Bottom)
            {
                NewPage();
                DrawHeader();
            }

            DrawRow(cells, widths, height, lineHeight, font, null);
        }

        _y += 8;
    }

    public void Image(byte[] png, string caption, double maxWidth, double maxHeight)
    {
        using var stream = new MemoryStream(png, writable: false);
        using var image = XImage.FromStream(stream);
        var scale = Math.Min(maxWidth / image.PointWidth, maxHeight / image.PointHeight);
        var width = image.PointWidth * scale;
        var height = image.PointHeight * scale;
        var captionHeight = Small.GetHeight() * 2.6;
        EnsureSpace(height + captionHeight);
        Graphics.DrawImage(image, Margin, _y, width, height);
        _y += height + 2;
        Paragraph(caption, Small, XBrushes.DimGray);
    }

    /// <summary>Writes "page n of m" and a running title on every page once the page count is known.</summary>
    public void Finish(string runningTitle)
    {
        _graphics?.Dispose();
        _graphics = null;
        var count = _document.PageCount;
        for (var i = 0; i < count; i++)
        {
            var page = _document.Pages[i];
            using var graphics = XGraphics.FromPdfPage(page, XGraphicsPdfPageOptions.Append);
            var y = page.Height.Point - Margin - 10;
            graphics.DrawLine(XPens.LightGray, Margin, y - 4, page.Width.Point - Margin, y - 4);
            graphics.DrawString(runningTitle, Small, XBrushes.DimGray, new XRect(Margin, y, ContentWidth, 12), XStringFormats.TopLeft);
            graphics.DrawString($"Page {i + 1} of {count}", Small, XBrushes.DimGray, new XRect(Margin, y, ContentWidth, 12), XStringFormats.TopRight);
        }
    }

    public void Dispose() => _graphics?.Dispose();

    private void EnsureSpace(double height)
    {
        if (_y + height > Bottom)
        {
            NewPage();
        }
    }

    private void DrawRow(IReadOnlyList<string>[] cells, double[] widths, double height, double lineHeight, XFont font, XBrush? fill)
    {
        var x = Margin;
        for (var i = 0; i < widths.Length; i++)
        {
            var rect = new XRect(x, _y, widths[i], height);
            if (fill is not null)
            {
                Graphics.DrawRectangle(fill, rect);
            }

            Graphics.DrawRectangle(new XPen(XColors.Gray, 0.4), rect);
            var lineY = _y + CellPadding;
            foreach (var line in i < cells.Length ? cells[i] : [])
            {
                Graphics.DrawString(line, font, XBrushes.Black, new XRect(x + CellPadding, lineY, widths[i] - (2 * CellPadding), lineHeight), XStringFormats.TopLeft);
                lineY += lineHeight;
            }

            x += widths[i];
        }

        _y += height;
    }

    /// <summary>Greedy word wrap; words wider than the line (hashes, identifiers) are broken by character.</summary>
    private List<string> Wrap(string text, XFont font, double width)
    {
        var lines = new List<string>();
        foreach (var paragraph in text.Replace("\r", "", StringComparison.Ordinal).Split('\n'))
        {
            var current = "";
            foreach (var word in paragraph.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = current.Length == 0 ? word : current + " " + word;
                if (Measure(candidate, font) <= width)
                {
                    current = candidate;
                    continue;
                }

                if (current.Length > 0)
                {
                    lines.Add(current);
                }

                current = word;
                while (Measure(current, font) > width && current.Length > 1)
                {
                    var fit = current.Length - 1;
                    while (fit > 1 && Measure(current[..fit], font) > width)
                    {
                        fit--;
                    }

                    lines.Add(current[..fit]);
                    current = current[fit..];
                }
            }

            lines.Add(current);
        }

        return lines;
    }

    private double Measure(string text, XFont font) => Graphics.MeasureString(text, font).Width;
}
