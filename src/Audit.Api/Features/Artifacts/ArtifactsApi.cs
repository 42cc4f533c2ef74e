using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

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

    public static async Task<Created<ArtifactResponse>> Upload(HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
        {
            throw new FluentValidation.ValidationException([new FluentValidation.Results.ValidationFailure("file", "Send multipart/form-data with a part named 'file'.")]);
        }

        IFormCollection form = await request.ReadFormAsync(cancellationToken);
        IFormFile? file = form.Files.GetFile("file");
        await using Stream? content = file?.OpenReadStream();
        ArtifactResponse artifact = await mediator.Send(
            new UploadArtifact(Caller.From(request.HttpContext.User), form["kind"].FirstOrDefault(), form["name"].FirstOrDefault() ?? file?.FileName, content),
            cancellationToken);
        return TypedResults.Created($"/api/v1/artifacts/{artifact.Id}", artifact);
    }

    public static async Task<Ok<ArtifactResponse>> Get(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetArtifact(Caller.From(context.User), id), cancellationToken));
}
