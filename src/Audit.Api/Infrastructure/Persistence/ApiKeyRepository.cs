using System.Data.Common;
using Audit.Api.Infrastructure.Security;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>A row of the api_keys table without its hash: what may be listed.</summary>
public sealed record ApiKeyRow(string Id, string? TenantId, string Role, string Name, string CreatedAt, string? RevokedAt);

/// <summary>API keys, stored only as hashes (<see cref="ApiKeyHasher"/>); a key's secret is never stored.</summary>
public sealed class ApiKeyRepository
{
    private const string Select = "SELECT id AS Id, tenant_id AS TenantId, role AS Role, name AS Name, created_at AS CreatedAt, revoked_at AS RevokedAt FROM api_keys";

    private readonly IDatabase _database;

    public ApiKeyRepository(IDatabase database)
    {
        _database = database;
    }

    /// <summary>The caller a presented key's hash belongs to; null when unknown or revoked.</summary>
    public async Task<Caller?> FindActiveAsync(string keyHash, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<Caller>(new CommandDefinition(
            "SELECT id AS KeyId, tenant_id AS TenantId, role AS Role FROM api_keys WHERE key_hash = @keyHash AND revoked_at IS NULL",
            new { keyHash },
            cancellationToken: cancellationToken));
    }

    public async Task<long> CountAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM api_keys", cancellationToken: cancellationToken));
    }

    public async Task InsertAsync(ApiKeyRow key, string keyHash, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO api_keys (id, tenant_id, role, name, key_hash, created_at) VALUES (@Id, @TenantId, @Role, @Name, @keyHash, @CreatedAt)",
            new { key.Id, key.TenantId, key.Role, key.Name, keyHash, key.CreatedAt },
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<ApiKeyRow>> ListAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ApiKeyRow>(new CommandDefinition(Select + " ORDER BY created_at", cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>Revokes the key (once; a second revoke keeps the first time). Null when there is no such key.</summary>
    public async Task<ApiKeyRow?> RevokeAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
            new { id, now = now.ToString("O") }, cancellationToken: cancellationToken));
        return await connection.QuerySingleOrDefaultAsync<ApiKeyRow>(new CommandDefinition(
            Select + " WHERE id = @id", new { id }, cancellationToken: cancellationToken));
    }
}
