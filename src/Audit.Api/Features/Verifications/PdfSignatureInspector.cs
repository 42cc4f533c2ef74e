using System.Buffers;
using System.Formats.Asn1;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Audit.Api.Features.Verifications;

/// <summary>Where a PDF's last signature sits and what its dictionary says.</summary>
/// <param name="ByteRange">The four /ByteRange numbers.</param>
/// <param name="Cms">The DER CMS from /Contents, without its zero padding.</param>
/// <param name="HoleIsContents">True when the unsigned gap is exactly the /Contents hex string.</param>
/// <param name="SignedRevisionLength">Bytes the signature's revision spans (end of the second range).</param>
/// <param name="SubFilter">The signature dictionary's /SubFilter.</param>
/// <param name="SigningTime">The claimed signing time, /M.</param>
public sealed record PdfSignatureInfo(
    long[] ByteRange,
    byte[] Cms,
    bool HoleIsContents,
    long SignedRevisionLength,
    string? SubFilter,
    DateTimeOffset? SigningTime);

/// <summary>
/// Finds the last signature dictionary in PDF bytes without trusting the file: every offset is bounds-checked, and
/// anything unexpected yields null (no signature) rather than an exception.
/// </summary>
public static partial class PdfSignatureInspector
{
    public static PdfSignatureInfo? Inspect(byte[] pdf)
    {
        var text = Encoding.Latin1.GetString(pdf);
        var matches = ByteRangePattern().Matches(text);
        if (matches.Count == 0)
        {
            return null;
        }

        var match = matches[^1];
        var range = new long[4];
        for (var i = 0; i < 4; i++)
        {
            if (!long.TryParse(match.Groups[i + 1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out range[i]))
            {
                return null;
            }
        }

        long holeStart = range[0] + range[1], holeEnd = range[2], end = range[2] + range[3];
        if (range[0] != 0 || holeStart < 0 || holeEnd <= holeStart + 1 || end > pdf.Length || holeEnd > end)
        {
            return new PdfSignatureInfo(range, [], false, Math.Min(end, pdf.Length), null, null);
        }

        var holeIsContents = pdf[holeStart] == (byte)'<' && pdf[holeEnd - 1] == (byte)'>' &&
            pdf.AsSpan((int)holeStart + 1, (int)(holeEnd - holeStart - 2)).IndexOfAnyExcept(HexDigits) < 0 &&
            ContentsKeyBefore(text, (int)holeStart);
        var cms = holeIsContents ? DecodeCms(text.Substring((int)holeStart + 1, (int)(holeEnd - holeStart - 2))) : [];

        // The signature dictionary is the object around /ByteRange: read its other entries there.
        var objectStart = text.LastIndexOf(" obj", match.Index, StringComparison.Ordinal);
        var objectEnd = text.IndexOf("endobj", match.Index, StringComparison.Ordinal);
        var dictionary = objectStart >= 0 && objectEnd > match.Index ? text[objectStart..objectEnd] : "";
        var subFilter = SubFilterPattern().Match(dictionary) is { Success: true } s ? s.Groups[1].Value : null;
        var signingTime = SigningTimePattern().Match(dictionary) is { Success: true } m ? ParseDate(m.Groups[1].Value) : null;
        return new PdfSignatureInfo(range, cms, holeIsContents, end, subFilter, signingTime);
    }

    private static bool ContentsKeyBefore(string text, int holeStart)
    {
        var key = text.LastIndexOf("/Contents", holeStart, StringComparison.Ordinal);
        return key >= 0 && string.IsNullOrWhiteSpace(text[(key + "/Contents".Length)..holeStart]);
    }

    private static byte[] DecodeCms(string hex)
    {
        try
        {
            var bytes = Convert.FromHexString(hex.Length % 2 == 0 ? hex : hex + "0");
            // The hole is zero-padded after the DER value: keep exactly one encoded value.
            AsnDecoder.ReadEncodedValue(bytes, AsnEncodingRules.BER, out _, out _, out var consumed);
            return bytes[..consumed];
        }
        catch (Exception ex) when (ex is FormatException or AsnContentException)
        {
            return [];
        }
    }

    private static DateTimeOffset? ParseDate(string value)
    {
        var digits = value.StartsWith("D:", StringComparison.Ordinal) ? value[2..] : value;
        return digits.Length >= 14 && DateTime.TryParseExact(digits[..14], "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var date)
            ? new DateTimeOffset(date, TimeSpan.Zero)
            : null;
    }

    private static readonly SearchValues<byte> HexDigits = SearchValues.Create("0123456789ABCDEFabcdef \r\n"u8);

    [GeneratedRegex(@"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]")]
    private static partial Regex ByteRangePattern();

    [GeneratedRegex(@"/SubFilter\s*/([A-Za-z0-9.#_-]+)")]
    private static partial Regex SubFilterPattern();

    [GeneratedRegex(@"/M\s*\((D:\d{14}[^)]*)\)")]
    private static partial Regex SigningTimePattern();
}
