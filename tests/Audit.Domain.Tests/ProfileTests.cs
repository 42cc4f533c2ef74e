using System.Text.Json;
using Audit.Domain.Audits;
using Audit.Domain.Profiles;

namespace Audit.Domain.Tests;

public sealed class ProfileTests
{
    [Fact]
    public void BuiltInProfiles_LoadWithUniqueIdsVersionsAndControls()
    {
        IReadOnlyList<Profile> profiles = BuiltInProfiles.All;

        Assert.NotEmpty(profiles);
        Assert.Equal(profiles.Count, profiles.Select(p => (p.Id, p.Version)).Distinct().Count());
        foreach (Profile profile in profiles)
        {
            Assert.NotEmpty(profile.Controls);
            Assert.Equal(profile.Controls.Count, profile.Controls.Select(c => c.Id).Distinct().Count());
            Assert.All(profile.Controls, c => Assert.NotEmpty(c.Probes));
            Assert.All(profile.Controls, c => Assert.False(string.IsNullOrWhiteSpace(c.Clause)));
        }
    }

    [Fact]
    public void Hash_IsStableForEqualContentAndChangesWithAnyField()
    {
        Profile profile = BuiltInProfiles.All[0];
        Profile roundTripped = JsonSerializer.Deserialize<Profile>(JsonSerializer.Serialize(profile, ProfileHash.CanonicalJson), ProfileHash.CanonicalJson)!;

        Assert.Equal(ProfileHash.Compute(profile), ProfileHash.Compute(roundTripped));
        Assert.NotEqual(ProfileHash.Compute(profile), ProfileHash.Compute(profile with { Title = profile.Title + "." }));
        Assert.Matches("^sha256:[0-9a-f]{64}$", ProfileHash.Compute(profile));
    }

    [Theory]
    [InlineData("queued", AuditStatus.Queued)]
    [InlineData("Running", AuditStatus.Running)]
    [InlineData("cancelled", AuditStatus.Cancelled)]
    [InlineData("exploded", null)]
    [InlineData("1", null)]
    public void AuditStatus_ParsesWireNamesOnly(string wire, AuditStatus? expected)
    {
        Assert.Equal(expected, AuditStatusRules.ParseWire(wire));
    }

    [Fact]
    public void Domain_ReferencesNoInfrastructure()
    {
        string[] references = typeof(Profile).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToArray();

        Assert.DoesNotContain(references, r => r.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)
            || r.StartsWith("Dapper", StringComparison.Ordinal)
            || r.StartsWith("TorchSharp", StringComparison.Ordinal)
            || r.StartsWith("Microsoft.Data", StringComparison.Ordinal)
            || r.StartsWith("Npgsql", StringComparison.Ordinal));
    }
}
