using System.Formats.Asn1;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Audit.Cli.Verification;

/// <summary>
/// The last signature of a PDF as its bytes state it: the four /ByteRange numbers, the DER CMS from /Contents, the
/// signature dictionary's /SubFilter and /M, and the report claims (/AuditClaims) found inside the signed bytes.
/// </summary>
internal sealed record PdfSignature(
    long[] ByteRange,
    byte[] Cms,
    bool GapIsContents,
    string? SubFilter,
    DateTimeOffset? SigningTime,
    string? ClaimsJson)
{
    /// <summary>Where the second signed range ends: the length of the revision the signature covers.</summary>
    public long SignedLength => ByteRange[2] + ByteRange[3];

    /// <summary>True when the four numbers describe two ranges inside the file, the first starting at byte 0.</summary>
    public bool RangesInsideFile(long fileLength) =>
        ByteRange[0] == 0 && ByteRange[1] > 0 && ByteRange[2] > ByteRange[1] && ByteRange[3] >= 0 && SignedLength <= fileLength;

    /// <summary>The bytes the signature covers, concatenated as the signer hashed them.</summary>
    public byte[] SignedBytes(byte[] pdf)
    {
        var first = (int)ByteRange[1];
        var second = (int)ByteRange[3];
        var signed = new byte[first + second];
        pdf.AsSpan(0, first).CopyTo(signed);
        pdf.AsSpan((int)ByteRange[2], second).CopyTo(signed.AsSpan(first));
        return signed;
    }
}

/// <summary>
/// Reads a PDF's signature without a PDF library: the file is untrusted input, so every offset is checked against the
/// file's length and anything malformed reads as "no usable signature" rather than an exception.
/// </summary>
internal static partial class PdfSignatureReader
{
    /// <summary>Returns the last signature's fields, or null when the file has no /ByteRange at all.</summary>
    public static PdfSignature? Read(byte[] pdf)
    {
        // Latin-1 maps every byte to one char, so string offsets are byte offsets.
        var text = Encoding.Latin1.GetString(pdf);
        var ranges = ByteRangePattern().Matches(text);
        if (ranges.Count == 0)
        {
            return null;
        }

        var match = ranges[^1];
        var range = new long[4];
        for (var i = 0; i < 4; i++)
        {
            range[i] = long.Parse(match.Groups[i + 1].Value, NumberStyles.None, CultureInfo.InvariantCulture);
        }

        var dictionary = EnclosingObject(text, match.Index);
        var subFilter = SubFilterPattern().Match(dictionary) is { Success: true } s ? s.Groups[1].Value : null;
        var signingTime = SigningTimePattern().Match(dictionary) is { Success: true } m ? ParsePdfDate(m.Groups[1].Value) : null;
        var signature = new PdfSignature(range, [], false, subFilter, signingTime, null);
        if (!signature.RangesInsideFile(pdf.Length))
        {
            return signature;
        }

        int gapStart = (int)range[1], gapEnd = (int)range[2];
        var gapIsContents = pdf[gapStart] == (byte)'<' && pdf[gapEnd - 1] == (byte)'>' &&
            IsHex(text.AsSpan(gapStart + 1, gapEnd - gapStart - 2)) && KeyPrecedes(text, "/Contents", gapStart);
        var cms = gapIsContents ? DecodeCms(text.Substring(gapStart + 1, gapEnd - gapStart - 2)) : [];
        var signedText = Encoding.Latin1.GetString(signature.SignedBytes(pdf));
        return signature with { Cms = cms, GapIsContents = gapIsContents, ClaimsJson = ReadClaims(signedText) };
    }

    private static string EnclosingObject(string text, int at)
    {
        var start = text.LastIndexOf(" obj", at, StringComparison.Ordinal);
        var end = text.IndexOf("endobj", at, StringComparison.Ordinal);
        return start >= 0 && end > at ? text[start..end] : "";
    }

    private static bool IsHex(ReadOnlySpan<char> value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c) && c is not (' ' or '\r' or '\n'))
            {
                return false;
            }
        }

        return true;
    }

    private static bool KeyPrecedes(string text, string key, int at)
    {
        var index = text.LastIndexOf(key, at, StringComparison.Ordinal);
        return index >= 0 && string.IsNullOrWhiteSpace(text[(index + key.Length)..at]);
    }

    private static byte[] DecodeCms(string hex)
    {
        try
        {
            var compact = hex.Replace(" ", "", StringComparison.Ordinal).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal);
            var bytes = Convert.FromHexString(compact.Length % 2 == 0 ? compact : compact + "0");
            // The placeholder is zero-padded after the DER value: keep exactly one encoded value.
            AsnDecoder.ReadEncodedValue(bytes, AsnEncodingRules.BER, out _, out _, out var consumed);
            return bytes[..consumed];
        }
        catch (Exception ex) when (ex is FormatException or AsnContentException)
        {
            return [];
        }
    }

    /// <summary>The /AuditClaims string of the document information dictionary, decoded (literal or hex, PDFDoc or UTF-16BE).</summary>
    private static string? ReadClaims(string signedText)
    {
        var key = signedText.LastIndexOf("/AuditClaims", StringComparison.Ordinal);
        if (key < 0)
        {
            return null;
        }

        var i = key + "/AuditClaims".Length;
        while (i < signedText.Length && char.IsWhiteSpace(signedText[i]))
        {
            i++;
        }

        var raw = i < signedText.Length && signedText[i] == '(' ? ReadLiteralString(signedText, i)
            : i < signedText.Length && signedText[i] == '<' ? ReadHexString(signedText, i)
            : null;
        if (raw is null)
        {
            return null;
        }

        return raw.Length >= 2 && raw[0] == 0xFE && raw[1] == 0xFF
            ? Encoding.BigEndianUnicode.GetString(raw, 2, raw.Length - 2)
            : raw.Length >= 3 && raw[0] == 0xEF && raw[1] == 0xBB && raw[2] == 0xBF ? Encoding.UTF8.GetString(raw, 3, raw.Length - 3)
            : Encoding.Latin1.GetString(raw);
    }

    private static byte[]? ReadLiteralString(string text, int open)
    {
        var bytes = new List<byte>();
        var depth = 0;
        for (var i = open; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                var n = text[++i];
                switch (n)
                {
                    case 'n': bytes.Add((byte)'\n'); break;
                    case 'r': bytes.Add((byte)'\r'); break;
                    case 't': bytes.Add((byte)'\t'); break;
                    case 'b': bytes.Add((byte)'\b'); break;
                    case 'f': bytes.Add((byte)'\f'); break;
                    case '\r' or '\n': break;
                    case >= '0' and <= '7':
                        var value = n - '0';
                        for (var k = 0; k < 2 && i + 1 < text.Length && text[i + 1] is >= '0' and <= '7'; k++)
                        {
                            value = (value * 8) + (text[++i] - '0');
                        }

                        bytes.Add((byte)value);
                        break;
                    default: bytes.Add((byte)n); break;
                }

                continue;
            }

            if (c == '(' && depth++ == 0)
            {
                continue;
            }

            if (c == ')' && --depth == 0)
            {
                return [.. bytes];
            }

            bytes.Add((byte)c);
        }

        return null;
    }

    private static byte[]? ReadHexString(string text, int open)
    {
        var close = text.IndexOf('>', open);
        if (close < 0)
        {
            return null;
        }

        var hex = new string([.. text[(open + 1)..close].Where(char.IsAsciiHexDigit)]);
        try
        {
            return Convert.FromHexString(hex.Length % 2 == 0 ? hex : hex + "0");
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static DateTimeOffset? ParsePdfDate(string value)
    {
        var digits = value.StartsWith("D:", StringComparison.Ordinal) ? value[2..] : value;
        if (digits.Length < 14 || !DateTime.TryParseExact(digits[..14], "yyyyMMddHHmmss", CultureInfo.InvariantCulture, DateTimeStyles.None, out var local))
        {
            return null;
        }

        // PDF dates carry their offset as Z, +HH'mm' or -HH'mm' after the seconds.
        var offset = TimeSpan.Zero;
        var zone = digits[14..];
        if (zone.Length >= 3 && zone[0] is '+' or '-' &&
            int.TryParse(zone.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var hours))
        {
            var minutes = zone.Length >= 6 && int.TryParse(zone.AsSpan(4, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : 0;
            offset = new TimeSpan(hours, minutes, 0) * (zone[0] == '-' ? -1 : 1);
        }

        return new DateTimeOffset(local, offset);
    }

    [GeneratedRegex(@"/ByteRange\s*\[\s*(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s+(\d{1,12})\s*\]")]
    private static partial Regex ByteRangePattern();

    [GeneratedRegex(@"/SubFilter\s*/([A-Za-z0-9.#_-]+)")]
    private static partial Regex SubFilterPattern();

    [GeneratedRegex(@"/M\s*\((D:\d{14}[^)]*)\)")]
    private static partial Regex SigningTimePattern();
}
