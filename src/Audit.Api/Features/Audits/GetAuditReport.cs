using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Audits;

/// <summary>The report of a finished audit; 409 while it is not ready.</summary>
public sealed record GetAuditReport(Caller Caller, string Id) : IQuery<AuditResponse>;

public sealed class GetAuditReportHandler : IQueryHandler<GetAuditReport, AuditResponse>
{
    private readonly AuditStore _audits;

    public GetAuditReportHandler(AuditStore audits)
    {
        _audits = audits;
    }

    public async ValueTask<AuditResponse> Handle(GetAuditReport query, CancellationToken cancellationToken)
    {
        AuditResponse audit = await _audits.LoadAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Audit '{query.Id}' was not found.");
        if (audit.Status != "succeeded")
        {
            throw new ConflictException($"The report is not ready: the audit is {audit.Status}.");
        }

        return audit;
    }
}
