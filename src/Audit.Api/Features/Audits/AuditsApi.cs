using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Http;
using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Audit.Api.Features.Audits;

public static class AuditsApi
{
    public static IEndpointRouteBuilder MapAuditsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/audits").WithTags("Audits");

        group.MapPost("", Submit)
            .RequireAuthorization(Policies.Submit)
            .WithSummary("Submit an audit")
            .WithDescription("Queues an audit of a model artifact against a profile (latest version unless profileVersion is given). An Idempotency-Key header makes retries return the same audit.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("", List).RequireAuthorization(Policies.ReadTenant)
            .WithSummary("List audits").WithDescription("Newest first; ?status=&page=&pageSize=.");
        group.MapGet("{id}", Get).RequireAuthorization(Policies.ReadTenant).WithName("GetAudit")
            .WithSummary("Get an audit").WithDescription("Status, progress, verdict, control verdicts and findings.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("{id}/events", Events).RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Stream an audit's events")
            .WithDescription("Server-sent events: step (probe and control now running), progress (0..1, cost-weighted, with etaSeconds), finding as each probe finishes (in probe order), and status on each transition; the stream closes after the final status. The first events restate the current state, so reconnecting loses nothing.")
            .Produces<Stream>(StatusCodes.Status200OK, "text/event-stream")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("{id}/cancel", Cancel).RequireAuthorization(Policies.Submit)
            .WithSummary("Cancel an audit")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("{id}/evidence/{evidenceId}", Evidence).RequireAuthorization(Policies.ReadTenant).WithName("GetAuditEvidence")
            .WithSummary("Get one evidence file of an audit")
            .WithDescription("A file a probe produced (e.g. a recovered trigger mask, image/png), served with its media type. Findings link here from details.evidence[].href.")
            .Produces<Stream>(StatusCodes.Status200OK, "image/png")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<AcceptedAtRoute<AuditResponse>> Submit(
        SubmitAuditRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        HttpContext context,
        IMediator mediator,
        CancellationToken cancellationToken)
    {
        AuditResponse audit = await mediator.Send(new SubmitAudit(Caller.From(context.User), request, idempotencyKey), cancellationToken);
        return TypedResults.AcceptedAtRoute(audit, "GetAudit", new { id = audit.Id });
    }

    public static async Task<Ok<AuditPage>> List(
        string? status, int? page, int? pageSize, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListAudits(Caller.From(context.User), status, page ?? 1, pageSize ?? 50), cancellationToken));

    public static async Task<Ok<AuditResponse>> Get(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetAudit(Caller.From(context.User), id), cancellationToken));

    public static async Task<ServerSentEventsResult<JsonObject>> Events(
        string id, HttpContext context, IMediator mediator, WatchAudit watch, CancellationToken cancellationToken)
    {
        Caller caller = Caller.From(context.User);
        // Not found (or another tenant's) answers 404 before the stream starts.
        await mediator.Send(new GetAudit(caller, id), cancellationToken);
        return TypedResults.ServerSentEvents(watch.EventsAsync(caller.Tenant, id, cancellationToken));
    }

    public static async Task<Accepted<AuditResponse>> Cancel(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        AuditResponse audit = await mediator.Send(new CancelAudit(Caller.From(context.User), id), cancellationToken);
        return TypedResults.Accepted($"/api/v1/audits/{audit.Id}", audit);
    }

    public static async Task<FileContentHttpResult> Evidence(string id, string evidenceId, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        EvidenceDownload file = await mediator.Send(new GetAuditEvidence(Caller.From(context.User), id, evidenceId), cancellationToken);
        // Evidence is content-addressed and never changes once written.
        ContentCaching.MarkImmutable(context);
        return TypedResults.File(file.Content, file.MediaType, entityTag: ContentCaching.TagFor(file.Content));
    }
}
