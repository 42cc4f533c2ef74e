using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Webhooks;

/// <summary>Removes a webhook of the caller's tenant; deliveries not yet made are dropped, the log of past ones goes with it.</summary>
public sealed record DeleteWebhook(Caller Caller, string Id) : ICommand;

public sealed class DeleteWebhookHandler : ICommandHandler<DeleteWebhook>
{
    private readonly WebhookRepository _webhooks;

    public DeleteWebhookHandler(WebhookRepository webhooks)
    {
        _webhooks = webhooks;
    }

    public async ValueTask<Unit> Handle(DeleteWebhook command, CancellationToken cancellationToken)
    {
        if (!await _webhooks.DeleteAsync(command.Caller.Tenant, command.Id, cancellationToken))
        {
            throw new NotFoundException($"Webhook '{command.Id}' was not found.");
        }

        return Unit.Value;
    }
}
