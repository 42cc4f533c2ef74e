using PdfSharp.Drawing;
using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>
/// A small flowing layout on top of PDFsharp's XGraphics: a cursor that moves down the page, starts a new page when
/// the next block does not fit, wraps text at word boundaries, keeps headings with what follows them, and repeats a
/// table's header on every page the table continues on. Every block it places is recorded in <see cref="Layout"/>,
/// so tests can check page fill and orphaned headers without parsing the PDF.
/// </summary>
internal sealed class PdfPageWriter : IDisposable
{
    private const double Margin = 50;
    private const double FooterSpace = 30;
    private const double CellPadding = 3;

    private readonly PdfDocument _document;
    private readonly List<ReportLayoutBlock> _layout = [];
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
        Title = new XFont(ReportFonts.Sans, 20, XFontStyleEx.Bold);
        Heading1 = new XFont(ReportFonts.Sans, 14, XFontStyleEx.Bold);
        Heading2 = new XFont(ReportFonts.Sans, 11, XFontStyleEx.Bold);
        NewPage();
    }

    public XFont Body { get; }

    public XFont Bold { get; }

    public XFont Small { get; }

    public XFont SmallBold { get; }

    public XFont Title { get; }

    public XFont Heading1 { get; }

    public XFont Heading2 { get; }

    public double ContentWidth => _page!.Width.Point - (2 * Margin);

    /// <summary>The blocks placed so far, page by page, with the usable height of a page.</summary>
    public ReportLayout Layout => new([.. _layout], Bottom - Margin);

    private XGraphics Graphics => _graphics!;

    private double Bottom => _page!.Height.Point - Margin - FooterSpace;

    private int PageNumber => _document.PageCount;

    public void NewPage()
    {
        _graphics?.Dispose();
        _page = _document.AddPage();
        _page.Size = PdfSharp.PageSize.A4;
        _graphics = XGraphics.FromPdfPage(_page);
        _y = Margin;
    }

    /// <summary>
    /// Starts a new page unless the current one is still under a quarter full: a section starts on a fresh page
    /// without leaving a nearly empty one behind.
    /// </summary>
    public void SectionBreak()
    {
        if (_y - Margin >= (Bottom - Margin) / 4)
        {
            NewPage();
        }
    }

    public void Space(double points) => _y += points;

    /// <summary>The height a heading takes.</summary>
    public double HeadingHeight(string text, XFont font) => (Wrap(text, font, ContentWidth).Count * font.GetHeight() * 1.2) + 8;

    /// <summary>
    /// A heading, wrapped to the margin, kept on one page with at least <paramref name="keepWithNext"/> points of
    /// what follows (callers pass the height of the first block after it).
    /// </summary>
    public void Heading(string text, XFont font, double keepWithNext = 60)
    {
        var lineHeight = font.GetHeight() * 1.2;
        var lines = Wrap(text, font, ContentWidth);
        EnsureSpace(HeadingHeight(text, font) + keepWithNext);
        var top = _y;
        _y += 4;
        foreach (var line in lines)
        {
            Graphics.DrawString(line, font, XBrushes.Black, new XRect(Margin, _y, ContentWidth, lineHeight), XStringFormats.TopLeft);
            _y += lineHeight;
        }

        _y += 4;
        Record("heading", top);
    }

    /// <summary>The height a paragraph takes.</summary>
    public double ParagraphHeight(string text, XFont? font = null, double indent = 0)
    {
        font ??= Body;
        var lineHeight = font.GetHeight() * 1.2;
        return (Wrap(text, font, ContentWidth - indent).Count + 0.4) * lineHeight;
    }

    /// <summary>
    /// A paragraph; it may split across pages line by line, but its first lines stay with
    /// <paramref name="keepWithNext"/> points of what follows when the whole paragraph is short.
    /// </summary>
    public void Paragraph(string text, XFont? font = null, XBrush? brush = null, double indent = 0, double keepWithNext = 0)
    {
        font ??= Body;
        var lineHeight = font.GetHeight() * 1.2;
        var lines = Wrap(text, font, ContentWidth - indent);
        var whole = ParagraphHeight(text, font, indent);
        if (whole + keepWithNext <= (Bottom - Margin) / 2)
        {
            EnsureSpace(whole + keepWithNext);
        }

        var top = _y;
        foreach (var line in lines)
        {
            if (_y + lineHeight > Bottom)
            {
                Record("paragraph", top);
                NewPage();
                top = _y;
            }

            Graphics.DrawString(line, font, brush ?? XBrushes.Black, new XRect(Margin + indent, _y, ContentWidth - indent, lineHeight), XStringFormats.TopLeft);
            _y += lineHeight;
        }

        _y += lineHeight * 0.4;
        Record("paragraph", top);
    }

    public void Bullets(IEnumerable<string> items, XFont? font = null)
    {
        font ??= Body;
        foreach (var item in items)
        {
            var lineHeight = font.GetHeight() * 1.2;
            EnsureSpace(Math.Min(ParagraphHeight(item, font, 16), 3 * lineHeight));
            Graphics.DrawString("•", font, XBrushes.Black, new XRect(Margin + 4, _y, 10, lineHeight), XStringFormats.TopLeft);
            Paragraph(item, font, indent: 16);
        }
    }

    /// <summary>The height of a table's header row and first row: what a heading above it must be kept with.</summary>
    public double TableStartHeight(IReadOnlyList<string> headers, IReadOnlyList<double> widthFractions, IReadOnlyList<string>? firstRow, XFont? font = null)
    {
        font ??= Small;
        var widths = widthFractions.Select(f => f * ContentWidth).ToArray();
        var lineHeight = font.GetHeight() * 1.15;
        return RowHeight(headers, widths, SmallBold, lineHeight) + (firstRow is null ? 0 : RowHeight(firstRow, widths, font, lineHeight));
    }

    /// <summary>
    /// A table whose rows never split; its header row is never the last thing on a page: it starts on a page with
    /// room for the header and the first row, and when a later row does not fit, the table continues on a new page
    /// under a repeated header row.
    /// </summary>
    public void Table(IReadOnlyList<string> headers, IReadOnlyList<double> widthFractions, IEnumerable<IReadOnlyList<string>> rows, XFont? font = null)
    {
        font ??= Small;
        var widths = widthFractions.Select(f => f * ContentWidth).ToArray();
        var lineHeight = font.GetHeight() * 1.15;
        var headerLines = headers.Select((h, i) => (IReadOnlyList<string>)Wrap(h, SmallBold, widths[i] - (2 * CellPadding))).ToArray();
        var headerHeight = (headerLines.Max(l => l.Count) * lineHeight) + (2 * CellPadding);
        var maximumLines = (int)((Bottom - Margin - headerHeight - (2 * CellPadding)) / lineHeight);

        void DrawHeader()
        {
            var top = _y;
            DrawRow(headerLines, widths, headerHeight, lineHeight, SmallBold, XBrushes.LightGray);
            Record("table-header", top);
        }

        var first = true;
        foreach (var row in rows)
        {
            var cells = row.Select((text, i) =>
            {
                var lines = Wrap(text, font, widths[i] - (2 * CellPadding));
                // A cell taller than a page is cut rather than overflowing the page.
                return lines.Count > maximumLines ? [.. lines.Take(maximumLines - 1), "…"] : (IReadOnlyList<string>)lines;
            }).ToArray();
            var height = (cells.Max(c => c.Count) * lineHeight) + (2 * CellPadding);
            if (first)
            {
                EnsureSpace(headerHeight + height);
                DrawHeader();
                first = false;
            }
            else if (_y + height > Bottom)
            {
                NewPage();
                DrawHeader();
            }

            var rowTop = _y;
            DrawRow(cells, widths, height, lineHeight, font, null);
            Record("table-row", rowTop);
        }

        if (first)
        {
            EnsureSpace(headerHeight);
            DrawHeader();
        }

        _y += 8;
    }

    /// <summary>The height an image block (picture and caption) takes.</summary>
    public double ImageHeight(byte[] png, string caption, double maxWidth, double maxHeight)
    {
        var (_, height) = ImageSize(png, maxWidth, maxHeight);
        return height + 2 + ParagraphHeight(caption, Small);
    }

    public void Image(byte[] png, string caption, double maxWidth, double maxHeight) =>
        ImageRow([(png, caption)], maxWidth, maxHeight);

    /// <summary>Images side by side, each with its caption under it, kept on one page.</summary>
    public void ImageRow(IReadOnlyList<(byte[] Png, string Caption)> images, double maxWidth, double maxHeight)
    {
        const double gap = 12;
        var columns = Math.Max(1, Math.Min(images.Count, (int)((ContentWidth + gap) / (maxWidth + gap))));
        for (var start = 0; start < images.Count; start += columns)
        {
            var row = images.Skip(start).Take(columns).ToList();
            var cellWidth = Math.Min(maxWidth, (ContentWidth - ((columns - 1) * gap)) / columns);
            var captionHeights = row.Select(i => Wrap(i.Caption, Small, cellWidth).Count * Small.GetHeight() * 1.2).ToList();
            var sizes = row.Select(i => ImageSize(i.Png, cellWidth, maxHeight)).ToList();
            var height = sizes.Max(s => s.Height) + 2 + captionHeights.Max() + 6;
            EnsureSpace(height);
            var top = _y;
            for (var i = 0; i < row.Count; i++)
            {
                var x = Margin + (i * (cellWidth + gap));
                using (var stream = new MemoryStream(row[i].Png, writable: false))
                using (var image = XImage.FromStream(stream))
                {
                    // Trigger masks are a few dozen pixels: show them as crisp pixels, not a smoothed blur.
                    image.Interpolate = image.PixelWidth >= 200;
                    Graphics.DrawImage(image, x, _y, sizes[i].Width, sizes[i].Height);
                }

                var lineY = _y + sizes[i].Height + 2;
                foreach (var line in Wrap(row[i].Caption, Small, cellWidth))
                {
                    Graphics.DrawString(line, Small, XBrushes.DimGray, new XRect(x, lineY, cellWidth, Small.GetHeight() * 1.2), XStringFormats.TopLeft);
                    lineY += Small.GetHeight() * 1.2;
                }
            }

            _y += height;
            Record("image", top);
        }
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

    private static (double Width, double Height) ImageSize(byte[] png, double maxWidth, double maxHeight)
    {
        using var stream = new MemoryStream(png, writable: false);
        using var image = XImage.FromStream(stream);
        var scale = Math.Min(maxWidth / image.PointWidth, maxHeight / image.PointHeight);
        return (image.PointWidth * scale, image.PointHeight * scale);
    }

    private void Record(string kind, double top) => _layout.Add(new ReportLayoutBlock(PageNumber, kind, top - Margin, _y - Margin));

    private void EnsureSpace(double height)
    {
        if (_y + height > Bottom && _y > Margin)
        {
            NewPage();
        }
    }

    private double RowHeight(IReadOnlyList<string> cells, double[] widths, XFont font, double lineHeight) =>
        (cells.Select((text, i) => Wrap(text, font, widths[i] - (2 * CellPadding)).Count).DefaultIfEmpty(1).Max() * lineHeight) + (2 * CellPadding);

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

    /// <summary>
    /// Greedy word wrap at spaces. A word wider than the line is broken after a hyphen, slash, underscore, dot or
    /// comma where one fits, and by character only when none does (hashes, identifiers).
    /// </summary>
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

                    var soft = current[..fit].LastIndexOfAny(['-', '/', '_', '.', ',', ':']);
                    var cut = soft > 0 ? soft + 1 : fit;
                    lines.Add(current[..cut]);
                    current = current[cut..];
                }
            }

            lines.Add(current);
        }

        return lines;
    }

    private double Measure(string text, XFont font) => Graphics.MeasureString(text, font).Width;
}

/// <summary>Where a report's writer placed its blocks: points from the top of each page's content area.</summary>
public sealed record ReportLayout(IReadOnlyList<ReportLayoutBlock> Blocks, double PageContentHeight)
{
    /// <summary>How full each page is (0–1), by the lowest block on it, in page order.</summary>
    public IReadOnlyList<double> PageFill =>
        [.. Blocks.GroupBy(b => b.Page).OrderBy(g => g.Key).Select(g => g.Max(b => b.Bottom) / PageContentHeight)];
}

/// <summary>One placed block: its kind (heading, paragraph, table-header, table-row, image) and vertical extent.</summary>
public sealed record ReportLayoutBlock(int Page, string Kind, double Top, double Bottom);
