using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace Audit.Evaluators.Datasets;

/// <summary>
/// Checks a safetensors file's structure before anything reads its tensors: the header is UTF-8 JSON with no
/// duplicate names; every tensor has a known dtype, a shape whose element count matches its byte range, and the
/// ranges tile the data section exactly (no overlap, no gap, nothing past the end, nothing trailing, as the
/// format requires); floating-point tensors hold no NaN or infinity, which no probe can use and no finding
/// can store. Every rejection is a <see cref="DatasetRejectedException"/> (422 at upload).
/// </summary>
public static class SafetensorsStructureCheck
{
    private const long MaxHeaderBytes = 16 * 1024 * 1024;
    private const int MaxTensors = 4096;
    private const int MaxRank = 16;

    /// <summary>Checks the file at <paramref name="path"/>.</summary>
    /// <exception cref="DatasetRejectedException">The structure or the values are not acceptable.</exception>
    public static void Check(string path)
    {
        using FileStream file = File.OpenRead(path);
        Check(file);
    }

    /// <summary>Checks a seekable stream holding a whole safetensors file.</summary>
    /// <exception cref="DatasetRejectedException">The structure or the values are not acceptable.</exception>
    public static void Check(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Span<byte> prefix = stackalloc byte[8];
        if (stream.ReadAtLeast(prefix, 8, throwOnEndOfStream: false) != 8)
        {
            throw new DatasetRejectedException("The safetensors file ends before its header length.");
        }

        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        long dataLength = stream.Length - 8 - (long)Math.Min(headerLength, (ulong)stream.Length);
        if (headerLength == 0 || headerLength > MaxHeaderBytes || (long)headerLength > stream.Length - 8)
        {
            throw new DatasetRejectedException($"The safetensors header length {headerLength} is outside the file or over {MaxHeaderBytes} bytes.");
        }

        byte[] header = new byte[headerLength];
        stream.ReadExactly(header);
        List<Entry> entries = ParseHeader(header);

        // The byte ranges must tile [0, dataLength) exactly.
        long expected = 0;
        foreach (Entry entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (entry.Begin < expected)
            {
                throw new DatasetRejectedException($"Tensor '{entry.Name}' overlaps another tensor's bytes.");
            }

            if (entry.Begin > expected)
            {
                throw new DatasetRejectedException($"There is a gap of {entry.Begin - expected} bytes before tensor '{entry.Name}'.");
            }

            expected = entry.End;
        }

        if (expected != dataLength)
        {
            throw new DatasetRejectedException(expected > dataLength
                ? $"The tensors need {expected} data bytes; the file holds {dataLength}."
                : $"{dataLength - expected} bytes after the last tensor belong to none.");
        }

        long dataStart = 8 + (long)headerLength;
        foreach (Entry entry in entries.Where(e => e.DType is "F16" or "BF16" or "F32" or "F64"))
        {
            CheckFinite(stream, dataStart, entry);
        }
    }

    private sealed record Entry(string Name, string DType, long Begin, long End);

    private static List<Entry> ParseHeader(byte[] header)
    {
        try
        {
            _ = new UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(header);
        }
        catch (DecoderFallbackException)
        {
            throw new DatasetRejectedException("The safetensors header is not valid UTF-8.");
        }

        var entries = new List<Entry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            using JsonDocument document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new DatasetRejectedException("The safetensors header must be a JSON object.");
            }

            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (!names.Add(property.Name))
                {
                    throw new DatasetRejectedException($"The safetensors header names '{property.Name}' twice.");
                }

                if (property.Name == "__metadata__")
                {
                    continue;
                }

                if (names.Count > MaxTensors)
                {
                    throw new DatasetRejectedException($"At most {MaxTensors} tensors are accepted.");
                }

                entries.Add(ParseEntry(property));
            }
        }
        catch (JsonException ex)
        {
            throw new DatasetRejectedException("The safetensors header is not valid JSON: " + ex.Message);
        }

        return entries;
    }

    private static Entry ParseEntry(JsonProperty property)
    {
        string name = property.Name;
        JsonElement tensor = property.Value;
        if (tensor.ValueKind != JsonValueKind.Object
            || !tensor.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String
            || !tensor.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array
            || !tensor.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
        {
            throw new DatasetRejectedException($"Tensor '{name}' needs a string dtype, a shape array and two data_offsets.");
        }

        string dtype = dtypeElement.GetString()!;
        int elementSize = ElementSize(dtype);
        if (elementSize == 0)
        {
            throw new DatasetRejectedException($"Tensor '{name}' has the unknown dtype '{dtype}'.");
        }

        if (shapeElement.GetArrayLength() > MaxRank)
        {
            throw new DatasetRejectedException($"Tensor '{name}' has rank {shapeElement.GetArrayLength()}; at most {MaxRank} is accepted.");
        }

        long elements = 1;
        foreach (JsonElement dimension in shapeElement.EnumerateArray())
        {
            if (dimension.ValueKind != JsonValueKind.Number || !dimension.TryGetInt64(out long size) || size < 0)
            {
                throw new DatasetRejectedException($"Tensor '{name}' has a dimension that is not a non-negative integer.");
            }

            try
            {
                elements = checked(elements * size);
            }
            catch (OverflowException)
            {
                throw new DatasetRejectedException($"Tensor '{name}' has more elements than can be counted.");
            }
        }

        if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
        {
            throw new DatasetRejectedException($"Tensor '{name}' has data_offsets that are not an ordered pair of non-negative integers.");
        }

        long bytes;
        try
        {
            bytes = checked(elements * elementSize);
        }
        catch (OverflowException)
        {
            throw new DatasetRejectedException($"Tensor '{name}' is larger than can be counted.");
        }

        if (end - begin != bytes)
        {
            throw new DatasetRejectedException($"Tensor '{name}' declares {end - begin} bytes; its dtype and shape need {bytes}.");
        }

        return new Entry(name, dtype, begin, end);
    }

    private static int ElementSize(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E4M3" or "F8_E5M2" => 1,
        "U16" or "I16" or "F16" or "BF16" => 2,
        "U32" or "I32" or "F32" => 4,
        "U64" or "I64" or "F64" => 8,
        _ => 0,
    };

    private static void CheckFinite(Stream stream, long dataStart, Entry entry)
    {
        stream.Position = dataStart + entry.Begin;
        byte[] buffer = new byte[64 * 1024];
        long remaining = entry.End - entry.Begin;
        long index = 0;
        while (remaining > 0)
        {
            int chunk = (int)Math.Min(buffer.Length, remaining);
            stream.ReadExactly(buffer, 0, chunk);
            remaining -= chunk;
            ReadOnlySpan<byte> bytes = buffer.AsSpan(0, chunk);
            switch (entry.DType)
            {
                case "F32":
                    for (int i = 0; i < chunk; i += 4, index++)
                    {
                        if (!float.IsFinite(BinaryPrimitives.ReadSingleLittleEndian(bytes[i..])))
                        {
                            throw NotFinite(entry, index);
                        }
                    }

                    break;
                case "F64":
                    for (int i = 0; i < chunk; i += 8, index++)
                    {
                        if (!double.IsFinite(BinaryPrimitives.ReadDoubleLittleEndian(bytes[i..])))
                        {
                            throw NotFinite(entry, index);
                        }
                    }

                    break;
                case "F16":
                    for (int i = 0; i < chunk; i += 2, index++)
                    {
                        if (!Half.IsFinite(BinaryPrimitives.ReadHalfLittleEndian(bytes[i..])))
                        {
                            throw NotFinite(entry, index);
                        }
                    }

                    break;
                default:
                    // BF16: the exponent is the top 8 of 16 bits after the sign; all ones is Inf or NaN.
                    for (int i = 0; i < chunk; i += 2, index++)
                    {
                        if ((BinaryPrimitives.ReadUInt16LittleEndian(bytes[i..]) & 0x7F80) == 0x7F80)
                        {
                            throw NotFinite(entry, index);
                        }
                    }

                    break;
            }
        }
    }

    private static DatasetRejectedException NotFinite(Entry entry, long index) =>
        new($"Tensor '{entry.Name}' holds NaN or infinity (element {index}); only finite values are accepted.");
}
