using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Audit.Api.Infrastructure.Parsing;

/// <summary>A YAML document broke one of <see cref="BoundedYaml"/>'s rules or limits.</summary>
public sealed class YamlRefusedException(string message) : Exception(message);

/// <summary>
/// Turns the first YAML document of untrusted text into JSON (the shape JSON clients send) from the parser's
/// event stream, without recursion and within limits: nesting depth, node count and scalar length are bounded,
/// aliases are refused (their expansion is what turns a few hundred bytes into gigabytes), keys must be unique
/// scalars and numbers finite. Scalars follow the YAML 1.2 core schema: quoted ones are strings, plain ones
/// become null, booleans, integers or floats when they read as such.
/// </summary>
public static class BoundedYaml
{
    public const int MaxDepth = 64;
    public const int MaxNodes = 100_000;
    public const int MaxScalarLength = 64 * 1024;

    /// <exception cref="YamlRefusedException">A rule or limit was broken.</exception>
    /// <exception cref="YamlException">The text is not YAML.</exception>
    public static JsonNode? ToJson(string text)
    {
        var parser = new Parser(new StringReader(text));
        var stack = new Stack<Frame>();
        JsonNode? root = null;
        bool rootSet = false;
        int nodes = 0;
        while (parser.MoveNext())
        {
            ParsingEvent current = parser.Current!;
            switch (current)
            {
                case StreamStart or DocumentStart:
                    continue;
                case DocumentEnd or StreamEnd:
                    // Only the first document counts, as before; what follows it is not read.
                    return root;
                case AnchorAlias:
                    throw new YamlRefusedException($"YAML aliases (*name) are not accepted ({Where(current)}); write the value out.");
                case MappingEnd or SequenceEnd:
                    stack.Pop();
                    continue;
            }

            if (++nodes > MaxNodes)
            {
                throw new YamlRefusedException($"A profile has at most {MaxNodes} YAML nodes.");
            }

            JsonNode? value;
            switch (current)
            {
                case MappingStart:
                    value = new JsonObject();
                    break;
                case SequenceStart:
                    value = new JsonArray();
                    break;
                case Scalar scalar:
                    if (scalar.Value.Length > MaxScalarLength)
                    {
                        throw new YamlRefusedException($"A YAML scalar is at most {MaxScalarLength} characters ({Where(current)}).");
                    }

                    value = ScalarValue(scalar);
                    break;
                default:
                    throw new YamlRefusedException($"Unexpected YAML event {current.GetType().Name} ({Where(current)}).");
            }

            if (stack.Count == 0)
            {
                if (rootSet)
                {
                    throw new YamlRefusedException("The document has more than one root node.");
                }

                root = value;
                rootSet = true;
            }
            else
            {
                Frame parent = stack.Peek();
                if (parent.Node is JsonArray array)
                {
                    array.Add(value);
                }
                else if (parent.Key is null)
                {
                    if (current is not Scalar keyScalar)
                    {
                        throw new YamlRefusedException($"Mapping keys must be plain values, not lists or maps ({Where(current)}).");
                    }

                    if (((JsonObject)parent.Node).ContainsKey(keyScalar.Value))
                    {
                        throw new YamlRefusedException($"The key '{keyScalar.Value}' appears twice in one mapping ({Where(current)}).");
                    }

                    parent.Key = keyScalar.Value;
                    continue;
                }
                else
                {
                    ((JsonObject)parent.Node)[parent.Key] = value;
                    parent.Key = null;
                }
            }

            if (current is MappingStart or SequenceStart)
            {
                if (stack.Count >= MaxDepth)
                {
                    throw new YamlRefusedException($"YAML nesting is at most {MaxDepth} levels deep ({Where(current)}).");
                }

                stack.Push(new Frame(value!));
            }
        }

        return root;
    }

    private sealed class Frame(JsonNode node)
    {
        public JsonNode Node { get; } = node;

        public string? Key { get; set; }
    }

    private static string Where(ParsingEvent e) => $"line {e.Start.Line}, column {e.Start.Column}";

    private static JsonValue? ScalarValue(Scalar scalar)
    {
        string value = scalar.Value;
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
        {
            return JsonValue.Create(value);
        }

        if (value is "" or "~" or "null")
        {
            return null;
        }

        if (value is "true" or "false")
        {
            return JsonValue.Create(value == "true");
        }

        if (long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long integer))
        {
            return JsonValue.Create(integer);
        }

        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
        {
            return double.IsFinite(number)
                ? JsonValue.Create(number)
                : throw new YamlRefusedException($"The number '{value}' is out of range ({Where(scalar)}).");
        }

        return JsonValue.Create(value);
    }
}
