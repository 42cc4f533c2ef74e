using System.Text.Json;

namespace Audit.Evaluators.Probes;

/// <summary>Reads a probe's parameters, falling back to the descriptor's defaults for any the context lacks.</summary>
internal sealed class ProbeParameters(ProbeContext context, ProbeDescriptor descriptor)
{
    public int Int(string name) => Get(name).GetInt32();

    public double Double(string name) => Get(name).GetDouble();

    public bool Bool(string name) => Get(name).GetBoolean();

    public string String(string name) => Get(name).GetString() ?? "";

    public double[] Numbers(string name) => Get(name).EnumerateArray().Select(e => e.GetDouble()).ToArray();

    private JsonElement Get(string name)
    {
        if (context.Parameters.TryGetValue(name, out JsonElement value) && value.ValueKind != JsonValueKind.Undefined)
        {
            return value;
        }

        return descriptor.Parameters.FirstOrDefault(p => p.Name == name)?.Default
            ?? throw new ArgumentException($"Probe '{descriptor.Name}' has no parameter '{name}'.", nameof(name));
    }

    /// <summary>A JSON default value for a descriptor.</summary>
    public static JsonElement Json<T>(T value) => JsonSerializer.SerializeToElement(value);
}
