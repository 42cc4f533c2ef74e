using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Transparency;

public sealed record GetTreeHead : IQuery<SignedTreeHead>;

public sealed class GetTreeHeadHandler(TransparencyLog log) : IQueryHandler<GetTreeHead, SignedTreeHead>
{
    public async ValueTask<SignedTreeHead> Handle(GetTreeHead query, CancellationToken cancellationToken) =>
        await log.GetTreeHeadAsync(cancellationToken);
}

/// <summary>An audit path for entry <c>Index</c>; <c>TreeSize</c> defaults to the current size.</summary>
public sealed record GetInclusionProof(long Index, long? TreeSize) : IQuery<InclusionProof>;

public sealed class GetInclusionProofValidator : AbstractValidator<GetInclusionProof>
{
    public GetInclusionProofValidator()
    {
        RuleFor(x => x.Index).GreaterThanOrEqualTo(0).OverridePropertyName("index");
        RuleFor(x => x.TreeSize).GreaterThan(x => x.Index).When(x => x.TreeSize is not null).OverridePropertyName("treeSize");
    }
}

public sealed class GetInclusionProofHandler(TransparencyLog log) : IQueryHandler<GetInclusionProof, InclusionProof>
{
    public async ValueTask<InclusionProof> Handle(GetInclusionProof query, CancellationToken cancellationToken)
    {
        try
        {
            var size = query.TreeSize ?? (await log.GetTreeHeadAsync(cancellationToken)).TreeSize;
            return await log.GetInclusionProofAsync(query.Index, size, cancellationToken);
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}

public sealed record GetConsistencyProof(long First, long Second) : IQuery<ConsistencyProof>;

public sealed class GetConsistencyProofValidator : AbstractValidator<GetConsistencyProof>
{
    public GetConsistencyProofValidator()
    {
        RuleFor(x => x.First).GreaterThan(0).OverridePropertyName("first");
        RuleFor(x => x.Second).GreaterThanOrEqualTo(x => x.First).OverridePropertyName("second");
    }
}

public sealed class GetConsistencyProofHandler(TransparencyLog log) : IQueryHandler<GetConsistencyProof, ConsistencyProof>
{
    public async ValueTask<ConsistencyProof> Handle(GetConsistencyProof query, CancellationToken cancellationToken)
    {
        try
        {
            return await log.GetConsistencyProofAsync(query.First, query.Second, cancellationToken);
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}

/// <summary>A log entry: its exact bytes (base64), leaf hash and the statement it holds.</summary>
public sealed record LogEntryResponse(long Index, string LeafHash, string EntryBase64, JsonNode? Statement);

public sealed record GetLogEntry(long Index) : IQuery<LogEntryResponse>;

public sealed class GetLogEntryHandler(TransparencyLog log) : IQueryHandler<GetLogEntry, LogEntryResponse>
{
    public async ValueTask<LogEntryResponse> Handle(GetLogEntry query, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await log.GetEntryAsync(query.Index, cancellationToken);
            return new LogEntryResponse(query.Index, Convert.ToHexStringLower(MerkleTree.HashLeaf(entry)), Convert.ToBase64String(entry), JsonNode.Parse(entry));
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}

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
