using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;

namespace Audit.Api.Features.Artifacts;

/// <summary>
/// Recognises dataset artifacts by content, never by file name: safetensors (8-byte little-endian header
/// length, then a JSON header) or JSON Lines (prompt evidence for sequence models).
/// </summary>
public static class DatasetFormats
{
    private const long MaxHeaderBytes = 16 * 1024 * 1024;

    public static (string Format, JsonNode Summary) Describe(string path)
    {
        using FileStream file = File.OpenRead(path);
        Span<byte> prefix = stackalloc byte[8];
        int read = file.ReadAtLeast(prefix, 8, throwOnEndOfStream: false);
        if (read == 8)
        {
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength >= 2 && headerLength <= (ulong)Math.Min(MaxHeaderBytes, file.Length - 8))
            {
                byte[] header = new byte[headerLength];
                file.ReadExactly(header);
                if (header[0] == (byte)'{')
                {
                    return ("safetensors", SafetensorsSummary(header, file.Length - 8 - (long)headerLength));
                }
            }
        }

        file.Position = 0;
        // Bounded per line: a one-line 20 MB file is refused, not read into one string and parsed whole.
        using var reader = new Audit.Evaluators.Datasets.BoundedLineReader(new StreamReader(file));
        string? first = reader.ReadLine();
        if (first is not null && first.TrimStart().StartsWith('{'))
        {
            try
            {
                JsonNode.Parse(first);
                long lines = 1;
                while (reader.ReadLine() is { } line)
                {
                    if (line.Length > 0)
                    {
                        lines++;
                    }
                }

                return ("jsonl", new JsonObject { ["records"] = lines });
            }
            catch (JsonException)
            {
                // Falls through to the rejection below.
            }
        }

        throw new UnprocessableException(
            "The dataset is neither a safetensors file nor JSON Lines.", "unsupported-dataset-format");
    }

    private static JsonObject SafetensorsSummary(byte[] header, long dataBytes)
    {
        try
        {
            return Summarize(JsonNode.Parse(header), dataBytes);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            // Invalid UTF-8 and duplicate keys surface outside JsonException, some only when the object is read.
            throw new UnprocessableException($"The safetensors header is not valid JSON: {ex.Message}", "invalid-safetensors");
        }
    }

    private static JsonObject Summarize(JsonNode? parsed, long dataBytes)
    {
        var tensors = new JsonObject();
        if (parsed is JsonObject entries)
        {
            foreach ((string name, JsonNode? value) in entries)
            {
                if (name == "__metadata__" || value is not JsonObject tensor)
                {
                    continue;
                }

                tensors[name] = new JsonObject
                {
                    ["dtype"] = tensor["dtype"]?.DeepClone(),
                    ["shape"] = tensor["shape"]?.DeepClone(),
                };
            }
        }

        return new JsonObject { ["tensors"] = tensors, ["dataBytes"] = dataBytes };
    }
}
