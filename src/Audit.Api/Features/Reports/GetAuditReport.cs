using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Audits;
using Mediator;

namespace Audit.Api.Features.Reports;

/// <summary>The signed PDF report of a finished audit; 409 while it is not ready. Every download is recorded.</summary>
public sealed record GetAuditReport(Caller Caller, string Id) : IQuery<ReportDownload>;

/// <summary>A report's bytes and the name to save them under.</summary>
public sealed record ReportDownload(string ReportId, byte[] Pdf);

public sealed class GetAuditReportHandler : IQueryHandler<GetAuditReport, ReportDownload>
{
    private readonly AuditRepository _audits;
    private readonly ReportIssuing _issuing;
    private readonly IIssuedReportStore _reports;
    private readonly ReportAccessLog _access;

    public GetAuditReportHandler(AuditRepository audits, ReportIssuing issuing, IIssuedReportStore reports, ReportAccessLog access)
    {
        _audits = audits;
        _issuing = issuing;
        _reports = reports;
        _access = access;
    }

    public async ValueTask<ReportDownload> Handle(GetAuditReport query, CancellationToken cancellationToken)
    {
        AuditRow audit = await _audits.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Audit '{query.Id}' was not found.");
        if (audit.State != AuditStatus.Succeeded)
        {
            throw new ConflictException($"The report is not ready: the audit is {audit.Status}.");
        }

        IssuedReport issued = await _issuing.EnsureIssuedAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new ConflictException("The report could not be issued yet.");
        byte[] pdf = await _reports.ReadPdfAsync(issued.ReportId, cancellationToken)
            ?? throw new ConflictException("The report file is missing.");
        await _access.RecordAsync(query.Caller, audit.TenantId, issued.ReportId, audit.Id, ReportAccessLog.Download, "ok", cancellationToken);
        return new ReportDownload(issued.ReportId, pdf);
    }
}
