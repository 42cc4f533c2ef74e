using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Audits;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Audits;

/// <summary>The tenant's audits, newest first, optionally by status.</summary>
public sealed record ListAudits(Caller Caller, string? Status, int Page, int PageSize) : IQuery<AuditPage>;

public sealed class ListAuditsValidator : AbstractValidator<ListAudits>
{
    public ListAuditsValidator()
    {
        RuleFor(q => q.Status).Must(s => s is null || AuditStatusRules.ParseWire(s) is not null)
            .OverridePropertyName("status")
            .WithMessage("'status' must be queued, running, succeeded, failed or cancelled.");
        RuleFor(q => q.Page).GreaterThanOrEqualTo(1).OverridePropertyName("page");
        RuleFor(q => q.PageSize).InclusiveBetween(1, 200).OverridePropertyName("pageSize");
    }
}

public sealed class ListAuditsHandler : IQueryHandler<ListAudits, AuditPage>
{
    private readonly AuditRepository _audits;

    public ListAuditsHandler(AuditRepository audits)
    {
        _audits = audits;
    }

    public async ValueTask<AuditPage> Handle(ListAudits query, CancellationToken cancellationToken)
    {
        (IReadOnlyList<AuditRow> rows, long total) = await _audits.ListAsync(
            query.Caller.Tenant, AuditStatusRules.ParseWire(query.Status), query.Page, query.PageSize, cancellationToken);
        // Lists carry no findings: a page of summaries stays small; GET /audits/{id} has the details.
        return new AuditPage(rows.Select(r => AuditResponse.From(r, [], [])).ToList(), query.Page, query.PageSize, total);
    }
}
