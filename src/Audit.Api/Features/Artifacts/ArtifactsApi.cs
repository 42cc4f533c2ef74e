using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Http;
using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Artifacts;

public static class ArtifactsApi
{
    public static IEndpointRouteBuilder MapArtifactsApi(this IEndpointRouteBuilder app, long maxUploadBytes)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/artifacts").WithTags("Artifacts");

        group.MapPost("", Upload)
            .RequireAuthorization(Policies.Submit)
            .DisableAntiforgery()
            // Room for the multipart envelope around the largest accepted file; the store enforces the exact limit.
            .WithMetadata(new RequestSizeLimitAttribute(maxUploadBytes + 1024 * 1024))
            .WithSummary("Upload a model or dataset")
            .WithDescription("Multipart form: file, kind (model | dataset), optional name. Stored content-addressed (SHA-256); models are inventoried.")
            .Accepts<UploadArtifactForm>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapGet("{id}", Get)
            .RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Get an artifact")
            .WithDescription("Metadata and inventory (for models: IR version, opsets, inputs/outputs, operator counts, parameters).")
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("", List)
            .RequireAuthorization(Policies.ReadTenant)
            .WithSummary("List artifacts")
            .WithDescription("The tenant's artifacts, newest first; ?page=&pageSize= (1-200, default 50).");
        group.MapGet("{id}/content", Content)
            .RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Download an artifact's bytes")
            .WithDescription("Exactly the uploaded bytes. Strong ETag (the SHA-256); If-None-Match answers 304; ranges are served.")
            .Produces<Stream>(StatusCodes.Status200OK, "application/octet-stream", "application/jsonl")
            .Produces(StatusCodes.Status304NotModified)
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapDelete("{id}", Delete)
            .RequireAuthorization(Policies.Submit)
            .WithSummary("Delete an artifact")
            .WithDescription("Refused (409) while an audit refers to it. The stored bytes are removed only when no other artifact or evidence shares them.")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Ok<ArtifactPage>> List(int? page, int? pageSize, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListArtifacts(Caller.From(context.User), page ?? 1, pageSize ?? 50), cancellationToken));

    public static async Task<FileStreamHttpResult> Content(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        ArtifactContent content = await mediator.Send(new GetArtifactContent(Caller.From(context.User), id), cancellationToken);
        ContentCaching.MarkImmutable(context);
        // A seekable stream of known length on either store (S3: ranged GETs), so ranges and If-None-Match work as for a file.
        return TypedResults.Stream(
            content.Content, content.MediaType, content.FileName, enableRangeProcessing: true, entityTag: ContentCaching.TagFor(content.Sha256));
    }

    public static async Task<NoContent> Delete(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        await mediator.Send(new DeleteArtifact(Caller.From(context.User), id), cancellationToken);
        return TypedResults.NoContent();
    }

    public static async Task<Created<ArtifactResponse>> Upload(
        HttpRequest request, IMediator mediator, ArtifactStore store, IOptions<AuditOptions> options, CancellationToken cancellationToken)
    {
        // Streamed part by part into the store's incoming folder: no temporary file of ASP.NET's is involved.
        using MultipartUpload upload = await MultipartUpload.ReadAsync(request, store, options.Value.Artifacts.MaxSizeBytes, cancellationToken);
        ArtifactResponse artifact = await mediator.Send(
            new UploadArtifact(Caller.From(request.HttpContext.User), upload.Field("kind"), upload.Field("name") ?? upload.FileName, upload.File),
            cancellationToken);
        return TypedResults.Created($"/api/v1/artifacts/{artifact.Id}", artifact);
    }

    public static async Task<Ok<ArtifactResponse>> Get(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetArtifact(Caller.From(context.User), id), cancellationToken));
}
