using System.Reflection;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Audit.Api.Features.Verifications;

/// <summary>
/// Verification is open to anyone holding a report (a regulator needs no account): the endpoints answer anonymous
/// callers, limited per client IP, and a caller with a key is still recorded under it.
/// </summary>
public static class VerificationsApi
{
    /// <summary>Who an anonymous verification is recorded as in the report access log.</summary>
    public static readonly Caller Anonymous = new("anonymous", null, "anonymous");

    public static IEndpointRouteBuilder MapVerificationsApi(this IEndpointRouteBuilder app, VerificationOptions options)
    {
        app.MapPost("api/v1/verifications", (HttpRequest request, IMediator mediator, CancellationToken cancellationToken) =>
                Verify(request, options.MaxUploadBytes, mediator, cancellationToken))
            .WithTags("Verifications")
            .AllowAnonymous()
            .RequireRateLimiting(VerificationsSetup.PublicPolicy)
            .DisableAntiforgery()
            .WithMetadata(new RequestSizeLimitAttribute(options.MaxUploadBytes))
            .Accepts<VerifyReportForm>("multipart/form-data")
            .WithSummary("Verify a report")
            .WithDescription("Multipart 'file', no account needed: valid, each check (signature, certificateChain, wholeDocumentCovered, noLaterIncrementalUpdate, reportKnown, transparencyLogInclusion), the report's claims, and for a genuine report its logged statement and signed receipt. 429 past the per-IP rate limit, 413 past the size limit.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        app.MapGet("verify", Page).AllowAnonymous().RequireRateLimiting(VerificationsSetup.PublicPolicy).WithTags("Verifications")
            .WithSummary("Verification page (HTML)")
            .WithDescription("A browser page that uploads a report to POST /api/v1/verifications and shows each check. Anonymous, rate-limited per client.")
            .Produces<string>(StatusCodes.Status200OK, "text/html");
        app.MapGet(Reports.ServiceAddress.DocsPath, Docs).AllowAnonymous().WithTags("Verifications")
            .WithSummary("How to verify a report (HTML)")
            .Produces<string>(StatusCodes.Status200OK, "text/html");
        return app;
    }

    public static async Task<Ok<VerificationResult>> Verify(HttpRequest request, long maxUploadBytes, IMediator mediator, CancellationToken cancellationToken)
    {
        // Refused before reading when the length is declared; a body that lies is cut off by the server's size limit.
        if (request.ContentLength > maxUploadBytes)
        {
            throw new PayloadTooLargeException(maxUploadBytes);
        }

        if (!request.HasFormContentType)
        {
            throw new ValidationException([new FluentValidation.Results.ValidationFailure("file", "Send multipart/form-data with a part named 'file'.")]);
        }

        IFormCollection form = await request.ReadFormAsync(cancellationToken);
        IFormFile? file = form.Files.GetFile("file");
        byte[]? content = null;
        if (file is not null)
        {
            if (file.Length > maxUploadBytes)
            {
                throw new PayloadTooLargeException(maxUploadBytes);
            }

            using var buffer = new MemoryStream();
            await file.CopyToAsync(buffer, cancellationToken);
            content = buffer.ToArray();
        }

        var user = request.HttpContext.User;
        var caller = user.Identity?.IsAuthenticated == true ? Caller.From(user) : Anonymous;
        return TypedResults.Ok(await mediator.Send(new VerifyReport(caller, content), cancellationToken));
    }

    /// <summary>How verification works (docs/verification.md, embedded), linked from every report.</summary>
    public static ContentHttpResult Docs()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Audit.Api.verification.md")
            ?? throw new InvalidOperationException("The verification docs are not embedded.");
        using var reader = new StreamReader(stream);
        return TypedResults.Content(reader.ReadToEnd(), "text/markdown; charset=utf-8");
    }

    public static ContentHttpResult Page()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("Audit.Api.Verify.html")
            ?? throw new InvalidOperationException("The verify page is not embedded.");
        using var reader = new StreamReader(stream);
        return TypedResults.Content(reader.ReadToEnd(), "text/html; charset=utf-8");
    }
}
