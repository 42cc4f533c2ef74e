using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using Audit.Evaluators.Datasets;

namespace Audit.Api.Features.Artifacts;

/// <summary>
/// Recognises dataset artifacts by content, never by file name: safetensors (8-byte little-endian header
/// length, then a JSON header) or JSON Lines (prompt evidence for sequence models).
/// </summary>
public static class DatasetFormats
{
    public static (string Format, JsonNode Summary) Describe(string path)
    {
        using FileStream file = File.OpenRead(path);
        if (SafetensorsDataset.LooksLikeSafetensors(file))
        {
            // The evaluators' reader, with the limits audits apply: one header parser for uploads and probes.
            return ("safetensors", SafetensorsSummary(SafetensorsDataset.ReadHeader(file)));
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

    private static JsonObject SafetensorsSummary(SafetensorsHeader header)
    {
        var tensors = new JsonObject();
        foreach ((string name, SafetensorsTensor tensor) in header.Tensors)
        {
            tensors[name] = new JsonObject
            {
                ["dtype"] = tensor.DType,
                ["shape"] = new JsonArray([.. tensor.Shape.Select(d => (JsonNode)d)]),
            };
        }

        return new JsonObject { ["tensors"] = tensors, ["dataBytes"] = header.DataBytes };
    }
}
