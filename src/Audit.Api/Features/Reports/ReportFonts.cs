using System.Reflection;
using System.Security.Cryptography;
using PdfSharp.Fonts;

namespace Audit.Api.Features.Reports;

/// <summary>
/// The report's fonts (DejaVu, Bitstream Vera licence, copied from Debian's fonts-dejavu-core into Fonts/) come from
/// this assembly, never from the host, so a report renders the same everywhere and PDFsharp embeds exactly these.
/// </summary>
public static class ReportFonts
{
    public const string Sans = "DejaVu Sans";
    public const string Mono = "DejaVu Sans Mono";

    private static readonly Lock Gate = new();
    private static bool _scottPlotRegistered;

    /// <summary>Installs <see cref="ReportFontResolver"/> as PDFsharp's (process-wide) resolver.</summary>
    public static void EnsurePdfSharp()
    {
        lock (Gate)
        {
            switch (GlobalFontSettings.FontResolver)
            {
                case null:
                    GlobalFontSettings.FontResolver = new ReportFontResolver();
                    break;
                case ReportFontResolver:
                    break;
                default:
                    throw new InvalidOperationException("Another PDFsharp font resolver is installed; reports need ReportFontResolver.");
            }
        }
    }

    /// <summary>
    /// Registers the same fonts with ScottPlot, which only takes files: they are written once to a folder named by
    /// their hash in the temp directory.
    /// </summary>
    public static void EnsureScottPlot()
    {
        lock (Gate)
        {
            if (_scottPlotRegistered)
            {
                return;
            }

            var regular = Load("DejaVuSans");
            var folder = Path.Combine(Path.GetTempPath(), "audit-fonts-" + Convert.ToHexStringLower(SHA256.HashData(regular))[..16]);
            Directory.CreateDirectory(folder);
            ScottPlot.Fonts.AddFontFile(Sans, Materialise(folder, "DejaVuSans"), bold: false, italic: false);
            ScottPlot.Fonts.AddFontFile(Sans, Materialise(folder, "DejaVuSans-Bold"), bold: true, italic: false);
            ScottPlot.Fonts.Default = Sans;
            _scottPlotRegistered = true;
        }
    }

    /// <summary>The TTF bytes of a face shipped with the service.</summary>
    public static byte[] Load(string faceName)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Audit.Api.Fonts.{faceName}.ttf")
            ?? throw new InvalidOperationException($"Font {faceName} is not embedded in Audit.Api.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }

    private static string Materialise(string folder, string faceName)
    {
        var path = Path.Combine(folder, faceName + ".ttf");
        if (!File.Exists(path))
        {
            var temporary = path + "." + Environment.ProcessId + ".tmp";
            File.WriteAllBytes(temporary, Load(faceName));
            File.Move(temporary, path, overwrite: true);
        }

        return path;
    }
}

/// <summary>Maps every family PDFsharp asks for onto the embedded DejaVu faces.</summary>
public sealed class ReportFontResolver : IFontResolver
{
    public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic)
    {
        // No oblique faces are shipped; PDFsharp simulates italics by shearing.
        if (string.Equals(familyName, ReportFonts.Mono, StringComparison.OrdinalIgnoreCase))
        {
            return new FontResolverInfo("DejaVuSansMono", mustSimulateBold: bold, mustSimulateItalic: italic);
        }

        return new FontResolverInfo(bold ? "DejaVuSans-Bold" : "DejaVuSans", mustSimulateBold: false, mustSimulateItalic: italic);
    }

    public byte[]? GetFont(string faceName) => ReportFonts.Load(faceName);
}
