using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Webhooks;

/// <summary>The latest deliveries of a webhook of the caller's tenant, newest first.</summary>
public sealed record ListWebhookDeliveries(Caller Caller, string Id, int Limit) : IQuery<IReadOnlyList<WebhookDeliveryResponse>>;

public sealed class ListWebhookDeliveriesValidator : AbstractValidator<ListWebhookDeliveries>
{
    public ListWebhookDeliveriesValidator()
    {
        RuleFor(q => q.Limit).InclusiveBetween(1, 500).OverridePropertyName("limit");
    }
}

public sealed class ListWebhookDeliveriesHandler : IQueryHandler<ListWebhookDeliveries, IReadOnlyList<WebhookDeliveryResponse>>
{
    private readonly WebhookRepository _webhooks;

    public ListWebhookDeliveriesHandler(WebhookRepository webhooks)
    {
        _webhooks = webhooks;
    }

    public async ValueTask<IReadOnlyList<WebhookDeliveryResponse>> Handle(ListWebhookDeliveries query, CancellationToken cancellationToken)
    {
        _ = await _webhooks.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Webhook '{query.Id}' was not found.");
        return (await _webhooks.DeliveriesAsync(query.Caller.Tenant, query.Id, query.Limit, cancellationToken)).Select(WebhookDeliveryResponse.From).ToList();
    }
}
