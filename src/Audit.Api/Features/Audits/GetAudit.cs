using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Audits;

/// <summary>An audit of the caller's tenant with its progress, controls and findings.</summary>
public sealed record GetAudit(Caller Caller, string Id) : IQuery<AuditResponse>;

public sealed class GetAuditHandler : IQueryHandler<GetAudit, AuditResponse>
{
    private readonly AuditRepository _audits;

    public GetAuditHandler(AuditRepository audits)
    {
        _audits = audits;
    }

    public async ValueTask<AuditResponse> Handle(GetAudit query, CancellationToken cancellationToken)
    {
        AuditRow row = await _audits.FindAsync(query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Audit '{query.Id}' was not found.");
        (IReadOnlyList<ControlResultRow> controls, IReadOnlyList<FindingRow> findings) = await _audits.ResultsAsync(row.Id, cancellationToken);
        return AuditResponse.From(row, controls, findings);
    }
}
