using System.Reflection;
using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Audit.Api.Features.Verifications;

/// <summary>Verifies an uploaded report and records who did it.</summary>
public sealed record VerifyReport(Caller Caller, byte[]? Content) : ICommand<VerificationResult>;

public sealed class VerifyReportValidator : AbstractValidator<VerifyReport>
{
    public VerifyReportValidator()
    {
        RuleFor(x => x.Content).NotNull().OverridePropertyName("file").WithMessage("A multipart part named 'file' is required.");
        RuleFor(x => x.Content!.Length).GreaterThan(0).When(x => x.Content is not null).OverridePropertyName("file").WithMessage("The file is empty.");
    }
}

public sealed class VerifyReportHandler(ReportVerifier verifier, IIssuedReportStore reports, ReportAccessLog access) : ICommandHandler<VerifyReport, VerificationResult>
{
    public async ValueTask<VerificationResult> Handle(VerifyReport command, CancellationToken cancellationToken)
    {
        var result = await verifier.VerifyAsync(command.Content!, cancellationToken);
        // Recorded against the tenant whose report it really is (never against a tenant the file merely claims).
        var issued = result.Claims is { } claims && result.Checks.Any(c => c.Name == ReportVerifier.ReportKnown && c.Passed)
            ? await reports.FindAsync(claims.ReportId, cancellationToken)
            : null;
        await access.RecordAsync(command.Caller, issued?.Tenant, issued?.ReportId ?? result.Claims?.ReportId, issued?.AuditId,
            ReportAccessLog.Verification, result.Valid ? "valid" : "invalid: " + string.Join(",", result.FailedChecks), cancellationToken);
        return result;
    }
}

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
