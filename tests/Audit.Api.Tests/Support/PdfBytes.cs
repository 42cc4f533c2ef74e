using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Audit.Api.Tests.Support;

/// <summary>Byte-level helpers written from the PDF specification, independent of the code under test.</summary>
internal static partial class PdfBytes
{
    public static long[] ByteRange(byte[] pdf)
    {
        var match = ByteRangePattern().Matches(Encoding.Latin1.GetString(pdf))[^1];
        return [.. Enumerable.Range(1, 4).Select(i => long.Parse(match.Groups[i].Value, CultureInfo.InvariantCulture))];
    }

    /// <summary>The bytes the signature covers: both ranges concatenated.</summary>
    public static byte[] SignedBytes(byte[] pdf)
    {
        var r = ByteRange(pdf);
        return [.. pdf.AsSpan((int)r[0], (int)r[1]), .. pdf.AsSpan((int)r[2], (int)r[3])];
    }

    /// <summary>The DER CMS in /Contents, cut to its own length (the hole is zero-padded).</summary>
    public static byte[] Cms(byte[] pdf)
    {
        var r = ByteRange(pdf);
        var hex = Encoding.ASCII.GetString(pdf, (int)r[1] + 1, (int)(r[2] - r[1] - 2));
        var der = Convert.FromHexString(hex);
        System.Formats.Asn1.AsnDecoder.ReadEncodedValue(der, System.Formats.Asn1.AsnEncodingRules.DER, out _, out _, out var length);
        return der[..length];
    }

    /// <summary>Appends a genuine incremental update (a new Info dictionary, xref section and trailer with /Prev).</summary>
    public static byte[] AppendIncrementalUpdate(byte[] pdf)
    {
        var text = Encoding.Latin1.GetString(pdf);
        var root = RootPattern().Matches(text)[^1].Groups[1].Value;
        var size = int.Parse(SizePattern().Matches(text)[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        var previous = StartXrefPattern().Matches(text)[^1].Groups[1].Value;
        var builder = new StringBuilder(text);
        builder.Append('\n');
        var objectOffset = builder.Length;
        builder.Append(CultureInfo.InvariantCulture, $"{size} 0 obj\n<< /Title (Altered after signing) >>\nendobj\n");
        var xrefOffset = builder.Length;
        builder.Append(CultureInfo.InvariantCulture, $"xref\n{size} 1\n{objectOffset:D10} 00000 n \ntrailer\n<< /Size {size + 1} /Root {root} /Info {size} 0 R /Prev {previous} >>\nstartxref\n{xrefOffset}\n%%EOF\n");
        return Encoding.Latin1.GetBytes(builder.ToString());
    }

    [GeneratedRegex(@"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")]
    private static partial Regex ByteRangePattern();

    [GeneratedRegex(@"/Root\s+(\d+\s+\d+\s+R)")]
    private static partial Regex RootPattern();

    [GeneratedRegex(@"/Size\s+(\d+)")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"startxref\s+(\d+)")]
    private static partial Regex StartXrefPattern();
}
