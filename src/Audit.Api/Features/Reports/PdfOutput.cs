using PdfSharp.Pdf;

namespace Audit.Api.Features.Reports;

/// <summary>How report documents are written to bytes.</summary>
public static class PdfOutput
{
    /// <summary>Applies the output settings every report uses.</summary>
    public static void Configure(PdfDocument document)
    {
        document.Options.NoCompression = true;
        document.Options.CompressContentStreams = false;
    }

    public static byte[] Save(PdfDocument document)
    {
        using var buffer = new MemoryStream();
        document.Save(buffer, closeStream: false);
        return buffer.ToArray();
    }
}
