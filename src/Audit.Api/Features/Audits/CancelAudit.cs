using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Audits;
using Mediator;

namespace Audit.Api.Features.Audits;

/// <summary>Cancels a queued audit, or asks the worker to stop a running one (it stops within about a second).</summary>
public sealed record CancelAudit(Caller Caller, string Id) : ICommand<AuditResponse>;

public sealed class CancelAuditHandler : ICommandHandler<CancelAudit, AuditResponse>
{
    private readonly AuditRepository _audits;
    private readonly TimeProvider _time;
    private readonly IMediator _mediator;

    public CancelAuditHandler(AuditRepository audits, TimeProvider time, IMediator mediator)
    {
        _audits = audits;
        _time = time;
        _mediator = mediator;
    }

    public async ValueTask<AuditResponse> Handle(CancelAudit command, CancellationToken cancellationToken)
    {
        AuditRow row = await _audits.FindAsync(command.Caller.Tenant, command.Id, cancellationToken)
            ?? throw new NotFoundException($"Audit '{command.Id}' was not found.");
        AuditStatus? after = await _audits.RequestCancelAsync(command.Caller.Tenant, row.Id, _time.GetUtcNow(), cancellationToken);
        if (after is null)
        {
            throw new ConflictException($"Audit '{row.Id}' has already finished and cannot be cancelled.");
        }

        return await _mediator.Send(new GetAudit(command.Caller, row.Id), cancellationToken);
    }
}
