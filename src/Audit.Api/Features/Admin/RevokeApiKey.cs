using System.Data.Common;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Dapper;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Revokes a key; requests with it get 401 from then on.</summary>
public sealed record RevokeApiKey(string Id) : ICommand<ApiKeyResponse>;

public sealed class RevokeApiKeyHandler : ICommandHandler<RevokeApiKey, ApiKeyResponse>
{
    private readonly IDatabase _database;
    private readonly TimeProvider _time;

    public RevokeApiKeyHandler(IDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    public async ValueTask<ApiKeyResponse> Handle(RevokeApiKey command, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
            new { id = command.Id, now = _time.GetUtcNow().ToString("O") }, cancellationToken: cancellationToken));
        return await connection.QuerySingleOrDefaultAsync<ApiKeyResponse>(new CommandDefinition(
            ApiKeyResponse.Select + " WHERE id = @id",
            new { id = command.Id }, cancellationToken: cancellationToken))
            ?? throw new NotFoundException($"API key '{command.Id}' was not found.");
    }
}
