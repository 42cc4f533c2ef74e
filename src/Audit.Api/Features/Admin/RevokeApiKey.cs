using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Revokes a key; requests with it get 401 from then on.</summary>
public sealed record RevokeApiKey(string Id) : ICommand<ApiKeyResponse>;

public sealed class RevokeApiKeyHandler : ICommandHandler<RevokeApiKey, ApiKeyResponse>
{
    private readonly ApiKeyRepository _keys;
    private readonly TimeProvider _time;

    public RevokeApiKeyHandler(ApiKeyRepository keys, TimeProvider time)
    {
        _keys = keys;
        _time = time;
    }

    public async ValueTask<ApiKeyResponse> Handle(RevokeApiKey command, CancellationToken cancellationToken) =>
        ApiKeyResponse.From(await _keys.RevokeAsync(command.Id, _time.GetUtcNow(), cancellationToken)
            ?? throw new NotFoundException($"API key '{command.Id}' was not found."));
}
