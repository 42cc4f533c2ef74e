using System.Data.Common;
using System.Text.Json;
using Audit.Domain.Profiles;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>A profile version with its content hash and where it comes from.</summary>
public sealed record StoredProfile(Profile Profile, string ContentHash, bool BuiltIn);

/// <summary>Built-in profiles (shipped, visible to all) and custom ones (stored per tenant).</summary>
public sealed class ProfileRepository
{
    private readonly IDatabase _database;

    public ProfileRepository(IDatabase database)
    {
        _database = database;
    }

    /// <summary>Every version visible to the tenant (built-ins for all; custom for their tenant only).</summary>
    public async Task<IReadOnlyList<StoredProfile>> ListAsync(string? tenant, CancellationToken cancellationToken)
    {
        var result = BuiltInProfiles.All.Select(p => new StoredProfile(p, ProfileHash.Compute(p), BuiltIn: true)).ToList();
        if (tenant is null)
        {
            return result;
        }

        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        IEnumerable<string> rows = await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT content_json FROM profiles WHERE tenant_id = @tenant", new { tenant }, cancellationToken: cancellationToken));
        foreach (string json in rows)
        {
            Profile profile = JsonSerializer.Deserialize<Profile>(json, ProfileHash.CanonicalJson)!;
            result.Add(new StoredProfile(profile, ProfileHash.Compute(profile), BuiltIn: false));
        }

        return result;
    }

    /// <summary>The given version, or the highest semantic version when none is given.</summary>
    public async Task<StoredProfile?> FindAsync(string? tenant, string id, string? version, CancellationToken cancellationToken)
    {
        IEnumerable<StoredProfile> versions = (await ListAsync(tenant, cancellationToken)).Where(p => p.Profile.Id == id);
        return version is null
            ? versions.OrderByDescending(p => p.Profile.Version, ProfileVersions.Precedence).FirstOrDefault()
            : versions.FirstOrDefault(p => p.Profile.Version == version);
    }

    /// <summary>Stores a new custom version; false when that version already exists (versions are immutable).</summary>
    public async Task<bool> TryAddAsync(string tenant, Profile profile, string createdBy, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        int inserted = await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO profiles (tenant_id, id, version, content_json, content_hash, created_by, created_at)
            SELECT @tenant, @id, @version, @json, @hash, @createdBy, @now
            WHERE NOT EXISTS (SELECT 1 FROM profiles WHERE tenant_id = @tenant AND id = @id AND version = @version)
            """,
            new
            {
                tenant,
                id = profile.Id,
                version = profile.Version,
                json = JsonSerializer.Serialize(profile, ProfileHash.CanonicalJson),
                hash = ProfileHash.Compute(profile),
                createdBy,
                now = now.ToString("O"),
            },
            cancellationToken: cancellationToken));
        return inserted == 1;
    }
}
