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
            .Accepts<IFormFile>("multipart/form-data")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapGet("{id}", Get)
            .RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Get an artifact")
            .WithDescription("Metadata and inventory (for models: IR version, opsets, inputs/outputs, operator counts, parameters).")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return app;
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
