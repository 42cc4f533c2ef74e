using System.Reflection;
using System.Text.Json;

namespace Audit.Domain.Profiles;

/// <summary>The profiles shipped with the service, read from the JSON files under <c>Profiles/BuiltIn/</c>.</summary>
public static class BuiltInProfiles
{
    private static readonly Lazy<IReadOnlyList<Profile>> Loaded = new(Load);

    /// <summary>Every built-in profile version.</summary>
    public static IReadOnlyList<Profile> All => Loaded.Value;

    private static List<Profile> Load()
    {
        Assembly assembly = typeof(BuiltInProfiles).Assembly;
        var profiles = new List<Profile>();
        foreach (string resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("BuiltInProfiles/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using Stream stream = assembly.GetManifestResourceStream(resource)!;
            profiles.Add(JsonSerializer.Deserialize<Profile>(stream, ProfileHash.CanonicalJson)
                ?? throw new InvalidOperationException($"Built-in profile {resource} is empty."));
        }

        return profiles;
    }
}
