using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Webhooks;

/// <summary>One webhook of the caller's tenant (no secret).</summary>
public sealed record GetWebhook(Caller Caller, string Id) : IQuery<WebhookResponse>;

public sealed class GetWebhookHandler : IQueryHandler<GetWebhook, WebhookResponse>
{
    private readonly WebhookRepository _webhooks;

    public GetWebhookHandler(WebhookRepository webhooks)
    {
        _webhooks = webhooks;
    }

    public async ValueTask<WebhookResponse> Handle(GetWebhook query, CancellationToken cancellationToken) =>
        WebhookResponse.From(await _webhooks.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Webhook '{query.Id}' was not found."));
}
