using Audit.Api.Infrastructure.Persistence;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Every key, without secrets.</summary>
public sealed record ListApiKeys : IQuery<IReadOnlyList<ApiKeyResponse>>;

public sealed class ListApiKeysHandler : IQueryHandler<ListApiKeys, IReadOnlyList<ApiKeyResponse>>
{
    private readonly ApiKeyRepository _keys;

    public ListApiKeysHandler(ApiKeyRepository keys)
    {
        _keys = keys;
    }

    public async ValueTask<IReadOnlyList<ApiKeyResponse>> Handle(ListApiKeys query, CancellationToken cancellationToken) =>
        [.. (await _keys.ListAsync(cancellationToken)).Select(ApiKeyResponse.From)];
}
