using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

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
