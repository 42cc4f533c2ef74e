using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Reports;

/// <summary>Downloads and verifications of the tenant's reports, newest first.</summary>
public sealed record ListReportAccess(Caller Caller, string? ReportId) : IQuery<IReadOnlyList<ReportAccessEntry>>;

public sealed class ListReportAccessValidator : AbstractValidator<ListReportAccess>
{
    public ListReportAccessValidator() => RuleFor(x => x.ReportId).MaximumLength(100).OverridePropertyName("reportId");
}

public sealed class ListReportAccessHandler(ReportAccessLog access) : IQueryHandler<ListReportAccess, IReadOnlyList<ReportAccessEntry>>
{
    public async ValueTask<IReadOnlyList<ReportAccessEntry>> Handle(ListReportAccess query, CancellationToken cancellationToken) =>
        await access.ListAsync(query.Caller.Tenant, query.ReportId, cancellationToken);
}
