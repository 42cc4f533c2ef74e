using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Webhooks;

/// <summary>The JSON body for subscribing a webhook.</summary>
public sealed record CreateWebhookRequest(string? Url, IReadOnlyList<string>? Events);

public static class WebhooksApi
{
    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/webhooks").WithTags("Webhooks");
        group.MapPost("", Create).RequireAuthorization(Policies.Submit)
            .WithSummary("Subscribe a webhook")
            .WithDescription("POSTs signed JSON events (audit.running, audit.succeeded, audit.failed, audit.cancelled) to an https URL. The signing secret is in this response only (Cache-Control: no-store); each request carries Audit-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, t + \".\" + body)).")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("", List).RequireAuthorization(Policies.ReadTenant).WithSummary("List webhooks").WithDescription("The tenant's webhooks, without secrets.");
        group.MapGet("{id}", Get).RequireAuthorization(Policies.ReadTenant).WithName("GetWebhook")
            .WithSummary("Get a webhook").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("{id}", Delete).RequireAuthorization(Policies.Submit)
            .WithSummary("Delete a webhook").WithDescription("Undelivered events are dropped.").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("{id}/deliveries", Deliveries).RequireAuthorization(Policies.ReadTenant)
            .WithSummary("List a webhook's deliveries")
            .WithDescription("Newest first (?limit=, default 50): event, status (pending, delivered, failed), attempts, last HTTP status or error, next retry.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<CreatedAtRoute<CreatedWebhook>> Create(CreateWebhookRequest request, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        CreatedWebhook webhook = await mediator.Send(new CreateWebhook(Caller.From(context.User), request.Url, request.Events), cancellationToken);
        // The secret is shown once: no cache (browser, proxy) may keep a copy.
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.CreatedAtRoute(webhook, "GetWebhook", new { id = webhook.Id });
    }

    public static async Task<Ok<IReadOnlyList<WebhookResponse>>> List(HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListWebhooks(Caller.From(context.User)), cancellationToken));

    public static async Task<Ok<WebhookResponse>> Get(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetWebhook(Caller.From(context.User), id), cancellationToken));

    public static async Task<NoContent> Delete(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        await mediator.Send(new DeleteWebhook(Caller.From(context.User), id), cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<Ok<IReadOnlyList<WebhookDeliveryResponse>>> Deliveries(
        string id, int? limit, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListWebhookDeliveries(Caller.From(context.User), id, limit ?? 50), cancellationToken));
}
