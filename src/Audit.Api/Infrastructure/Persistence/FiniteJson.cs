using System.Text.Json.Nodes;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Makes a probe's details storable as JSON. JSON has no NaN or infinity, and System.Text.Json refuses to write
/// them, so one probe statistic that overflowed (a model that is never right gives an infinite accuracy ratio,
/// a variance of one sample is NaN) used to make the whole result unstorable and the audit run forever. Such a
/// number is kept as the string <c>"NaN"</c>, <c>"Infinity"</c> or <c>"-Infinity"</c>: the reader still sees
/// what was measured, and the report renders it as text. A non-finite score (stored as null) is noted the same
/// way under <c>nonFiniteScore</c>.
/// </summary>
public static class FiniteJson
{
    public static JsonObject Sanitise(JsonObject details, double? score = null)
    {
        ArgumentNullException.ThrowIfNull(details);
        var result = (JsonObject)Copy(details)!;
        if (score is { } s && !double.IsFinite(s))
        {
            result["nonFiniteScore"] = Name(s);
        }

        return result;
    }

    private static JsonNode? Copy(JsonNode? node) => node switch
    {
        null => null,
        JsonObject obj => new JsonObject(obj.Select(p => KeyValuePair.Create(p.Key, Copy(p.Value)))),
        JsonArray array => new JsonArray([.. array.Select(Copy)]),
        JsonValue value when NonFinite(value) is { } name => JsonValue.Create(name),
        _ => node.DeepClone(),
    };

    // A value built in memory holds the CLR number; one parsed from JSON is always finite.
    private static string? NonFinite(JsonValue value) =>
        value.TryGetValue(out double d) ? (double.IsFinite(d) ? null : Name(d))
        : value.TryGetValue(out float f) ? (float.IsFinite(f) ? null : Name(f))
        : null;

    private static string Name(double value) =>
        double.IsNaN(value) ? "NaN" : double.IsPositiveInfinity(value) ? "Infinity" : "-Infinity";
}
