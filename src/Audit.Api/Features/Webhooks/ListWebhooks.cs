using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Webhooks;

/// <summary>The caller's tenant's webhooks (no secrets).</summary>
public sealed record ListWebhooks(Caller Caller) : IQuery<IReadOnlyList<WebhookResponse>>;

public sealed class ListWebhooksHandler : IQueryHandler<ListWebhooks, IReadOnlyList<WebhookResponse>>
{
    private readonly WebhookRepository _webhooks;

    public ListWebhooksHandler(WebhookRepository webhooks)
    {
        _webhooks = webhooks;
    }

    public async ValueTask<IReadOnlyList<WebhookResponse>> Handle(ListWebhooks query, CancellationToken cancellationToken) =>
        (await _webhooks.ListAsync(query.Caller.Tenant, cancellationToken)).Select(WebhookResponse.From).ToList();
}
