using System.Security.Cryptography;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Webhooks;

/// <summary>Subscribes a URL of the caller's tenant to audit events; the answer carries the signing secret once.</summary>
public sealed record CreateWebhook(Caller Caller, string? Url, IReadOnlyList<string>? Events) : ICommand<CreatedWebhook>;

public sealed class CreateWebhookValidator : AbstractValidator<CreateWebhook>
{
    public CreateWebhookValidator(WebhookUrlPolicy policy)
    {
        RuleFor(c => c.Url).Custom((url, context) =>
        {
            if (policy.Problem(url) is { } problem)
            {
                context.AddFailure("url", problem);
            }
        });
        RuleFor(c => c.Events).NotEmpty().OverridePropertyName("events").WithMessage("'events' must list at least one event.");
        RuleForEach(c => c.Events).Must(e => WebhookEvents.All.Contains(e)).OverridePropertyName("events")
            .WithMessage($"'events' may hold only {string.Join(", ", WebhookEvents.All)}.");
    }
}

public sealed class CreateWebhookHandler : ICommandHandler<CreateWebhook, CreatedWebhook>
{
    private readonly WebhookRepository _webhooks;
    private readonly TimeProvider _time;

    public CreateWebhookHandler(WebhookRepository webhooks, TimeProvider time)
    {
        _webhooks = webhooks;
        _time = time;
    }

    public async ValueTask<CreatedWebhook> Handle(CreateWebhook command, CancellationToken cancellationToken)
    {
        string secret = "whsec_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        DateTimeOffset now = _time.GetUtcNow();
        List<string> events = command.Events!.Distinct(StringComparer.Ordinal).ToList();
        var row = new WebhookRow("whk_" + Guid.NewGuid().ToString("N"), command.Caller.Tenant, command.Url!, string.Join(',', events), secret, now.ToString("O"));
        await _webhooks.InsertAsync(row, cancellationToken);
        return new CreatedWebhook(row.Id, row.Url, events, now, secret);
    }
}
