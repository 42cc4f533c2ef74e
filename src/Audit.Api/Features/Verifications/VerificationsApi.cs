using System.Reflection;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Audit.Api.Features.Verifications;

public static class VerificationsApi
{
    /// <summary>Reports are a few MB; anything far larger is not one of ours.</summary>
    public const long MaxUploadBytes = 64L * 1024 * 1024;

    public static IEndpointRouteBuilder MapVerificationsApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("api/v1/verifications", Verify)
            .WithTags("Verifications")
            .RequireAuthorization(Policies.Verify)
            .DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitAttribute(MaxUploadBytes))
            .Accepts<IFormFile>("multipart/form-data")
            .WithSummary("Verify a report")
            .WithDescription("Multipart 'file': valid, each check (signature, certificateChain, wholeDocumentCovered, noLaterIncrementalUpdate, reportKnown, transparencyLogInclusion) and the report's claims.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge);
        app.MapGet("verify", Page).AllowAnonymous().ExcludeFromDescription();
        return app;
    }

    public static async Task<Ok<VerificationResult>> Verify(HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
        {
            throw new ValidationException([new FluentValidation.Results.ValidationFailure("file", "Send multipart/form-data with a part named 'file'.")]);
        }

        IFormCollection form = await request.ReadFormAsync(cancellationToken);
        IFormFile? file = form.Files.GetFile("file");
        byte[]? content = null;
        if (file is not null)
        {
            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, cancellationToken);
            content = buffer.ToArray();
        }

        return TypedResults.Ok(await mediator.Send(new VerifyReport(Caller.From(request.HttpContext.User), content), cancellationToken));
    }

    public static ContentHttpResult Page()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Audit.Api.Verify.html")
            ?? throw new InvalidOperationException("The verify page is not embedded.");
        using var reader = new StreamReader(stream);
        return TypedResults.Content(reader.ReadToEnd(), "text/html; charset=utf-8");
    }
}
