using System.Text.Json;

namespace Audit.Evaluators.Probes;

/// <summary>The probes this service can run, by name, and the rules their parameters must satisfy.</summary>
public sealed class ProbeCatalog
{
    private readonly Dictionary<string, IProbe> _probes;

    public ProbeCatalog(IEnumerable<IProbe> probes)
    {
        _probes = new Dictionary<string, IProbe>(StringComparer.Ordinal);
        foreach (IProbe probe in probes)
        {
            if (!_probes.TryAdd(probe.Descriptor.Name, probe))
            {
                throw new ArgumentException($"Two probes are registered as '{probe.Descriptor.Name}'.", nameof(probes));
            }
        }
    }

    /// <summary>Every registered probe's descriptor, by name.</summary>
    public IEnumerable<ProbeDescriptor> Descriptors => _probes.Values.Select(p => p.Descriptor).OrderBy(d => d.Name, StringComparer.Ordinal);

    public bool TryGet(string name, out IProbe probe) => _probes.TryGetValue(name, out probe!);

    /// <summary>
    /// Checks parameters against the probe's descriptor: unknown names, wrong JSON types and values out of range
    /// come back as (parameter, message) pairs; an empty list means valid.
    /// </summary>
    public static IReadOnlyList<(string Parameter, string Message)> Validate(
        ProbeDescriptor descriptor, IReadOnlyDictionary<string, JsonElement> parameters)
    {
        var errors = new List<(string, string)>();
        foreach ((string name, JsonElement value) in parameters)
        {
            ProbeParameter? spec = descriptor.Parameters.FirstOrDefault(p => p.Name == name);
            if (spec is null)
            {
                string known = descriptor.Parameters.Count == 0 ? "none" : string.Join(", ", descriptor.Parameters.Select(p => p.Name));
                errors.Add((name, $"Probe '{descriptor.Name}' has no parameter '{name}' (known: {known})."));
                continue;
            }

            string? problem = CheckValue(spec, value);
            if (problem is not null)
            {
                errors.Add((name, problem));
            }
        }

        return errors;
    }

    /// <summary>Parameters with defaults filled in for those not given.</summary>
    public static IReadOnlyDictionary<string, JsonElement> WithDefaults(
        ProbeDescriptor descriptor, IReadOnlyDictionary<string, JsonElement> parameters)
    {
        var merged = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (ProbeParameter spec in descriptor.Parameters)
        {
            merged[spec.Name] = parameters.TryGetValue(spec.Name, out JsonElement given) ? given : spec.Default;
        }

        return merged;
    }

    private static string? CheckValue(ProbeParameter spec, JsonElement value)
    {
        switch (spec.Type)
        {
            case ProbeParameterType.Integer:
                if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long integer))
                {
                    return $"'{spec.Name}' must be an integer.";
                }

                return CheckRange(spec, integer);
            case ProbeParameterType.Number:
                if (value.ValueKind != JsonValueKind.Number)
                {
                    return $"'{spec.Name}' must be a number.";
                }

                return CheckRange(spec, value.GetDouble());
            case ProbeParameterType.Boolean:
                return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : $"'{spec.Name}' must be true or false.";
            case ProbeParameterType.String:
                if (value.ValueKind != JsonValueKind.String)
                {
                    return $"'{spec.Name}' must be a string.";
                }

                return spec.AllowedValues is { } allowed && !allowed.Contains(value.GetString(), StringComparer.Ordinal)
                    ? $"'{spec.Name}' must be one of {string.Join(", ", allowed.Select(a => $"'{a}'"))}; got '{value.GetString()}'."
                    : null;
            case ProbeParameterType.NumberArray:
                if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
                {
                    return $"'{spec.Name}' must be an array of numbers.";
                }

                foreach (JsonElement item in value.EnumerateArray())
                {
                    string? problem = CheckRange(spec, item.GetDouble());
                    if (problem is not null)
                    {
                        return problem;
                    }
                }

                return null;
            default:
                return $"'{spec.Name}' has an unsupported type.";
        }
    }

    private static string? CheckRange(ProbeParameter spec, double value)
    {
        if (spec.Minimum is double min && value < min)
        {
            return $"'{spec.Name}' must be at least {min}; got {value}.";
        }

        if (spec.Maximum is double max && value > max)
        {
            return $"'{spec.Name}' must be at most {max}; got {value}.";
        }

        return null;
    }
}
