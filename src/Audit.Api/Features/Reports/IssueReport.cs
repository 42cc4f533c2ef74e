using Audit.Api.Infrastructure.Persistence;
using Mediator;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues the signed report of a succeeded audit if it was not issued yet (idempotent). Sent by the worker when an
/// audit succeeds; the download issues it too if this never completed.
/// </summary>
public sealed record IssueReport(string AuditId) : ICommand<IssuedReport?>;

public sealed class IssueReportHandler(ReportIssuing issuing) : ICommandHandler<IssueReport, IssuedReport?>
{
    public async ValueTask<IssuedReport?> Handle(IssueReport command, CancellationToken cancellationToken) =>
        await issuing.EnsureIssuedAsync(null, command.AuditId, cancellationToken);
}
