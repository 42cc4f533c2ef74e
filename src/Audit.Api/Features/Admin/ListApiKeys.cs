using System.Data.Common;
using Audit.Api.Infrastructure.Persistence;
using Dapper;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Every key, without secrets.</summary>
public sealed record ListApiKeys : IQuery<IReadOnlyList<ApiKeyResponse>>;

public sealed class ListApiKeysHandler : IQueryHandler<ListApiKeys, IReadOnlyList<ApiKeyResponse>>
{
    private readonly IDatabase _database;

    public ListApiKeysHandler(IDatabase database)
    {
        _database = database;
    }

    public async ValueTask<IReadOnlyList<ApiKeyResponse>> Handle(ListApiKeys query, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ApiKeyResponse>(new CommandDefinition(
            ApiKeyResponse.Select + " ORDER BY created_at",
            cancellationToken: cancellationToken))).ToList();
    }
}
