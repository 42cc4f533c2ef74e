using System.Data.Common;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain;
using Dapper;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Every tenant.</summary>
public sealed record ListTenants : IQuery<IReadOnlyList<TenantResponse>>;

public sealed class ListTenantsHandler : IQueryHandler<ListTenants, IReadOnlyList<TenantResponse>>
{
    private readonly IDatabase _database;

    public ListTenantsHandler(IDatabase database)
    {
        _database = database;
    }

    public async ValueTask<IReadOnlyList<TenantResponse>> Handle(ListTenants query, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<TenantResponse>(new CommandDefinition(
            "SELECT id AS Id, name AS Name, created_at AS CreatedAt FROM tenants ORDER BY id", cancellationToken: cancellationToken))).ToList();
    }
}
