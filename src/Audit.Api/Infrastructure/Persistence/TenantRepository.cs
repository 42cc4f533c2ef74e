using System.Data.Common;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>A row of the tenants table.</summary>
public sealed record TenantRow(string Id, string Name, string CreatedAt);

/// <summary>Tenants: the boundary of data visibility.</summary>
public sealed class TenantRepository
{
    private readonly IDatabase _database;

    public TenantRepository(IDatabase database)
    {
        _database = database;
    }

    /// <summary>Adds the tenant unless one with its id exists; false when it did.</summary>
    public async Task<bool> TryAddAsync(TenantRow tenant, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO tenants (id, name, created_at) SELECT @Id, @Name, @CreatedAt WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = @Id)",
            tenant, cancellationToken: cancellationToken)) == 1;
    }

    public async Task<bool> ExistsAsync(string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT COUNT(*) FROM tenants WHERE id = @id", new { id }, cancellationToken: cancellationToken)) > 0;
    }

    public async Task<IReadOnlyList<TenantRow>> ListAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<TenantRow>(new CommandDefinition(
            "SELECT id AS Id, name AS Name, created_at AS CreatedAt FROM tenants ORDER BY id", cancellationToken: cancellationToken))).ToList();
    }
}
