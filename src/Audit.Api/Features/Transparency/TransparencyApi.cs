using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Transparency;

/// <summary>The public transparency log: hashes and statements only, no tenant data.</summary>
public static class TransparencyApi
{
    public static IEndpointRouteBuilder MapTransparencyApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/transparency").WithTags("Transparency log").AllowAnonymous();
        group.MapGet("tree-head", TreeHead)
            .WithSummary("Current signed tree head")
            .WithDescription("Tree size, RFC 9162 root hash (hex) and timestamp, signed as COSE_Sign1 (base64) with the report-signing key.");
        group.MapGet("proofs/inclusion", Inclusion)
            .WithSummary("Inclusion proof")
            .WithDescription("?index=&treeSize= (treeSize defaults to the current size): the RFC 9162 audit path, hex hashes.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("proofs/consistency", Consistency)
            .WithSummary("Consistency proof")
            .WithDescription("?first=&second=: the RFC 9162 consistency proof between two tree sizes, hex hashes.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("entries/{index:long}", Entry)
            .WithSummary("A log entry")
            .WithDescription("The exact logged bytes (base64), their leaf hash and the decoded statement.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Ok<SignedTreeHead>> TreeHead(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetTreeHead(), cancellationToken));

    public static async Task<Ok<InclusionProof>> Inclusion(long index, long? treeSize, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetInclusionProof(index, treeSize), cancellationToken));

    public static async Task<Ok<ConsistencyProof>> Consistency(long first, long second, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetConsistencyProof(first, second), cancellationToken));

    public static async Task<Ok<LogEntryResponse>> Entry(long index, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetLogEntry(index), cancellationToken));
}
