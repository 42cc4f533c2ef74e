using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Reports;

/// <summary>A report's receipt: the COSE_Sign1 envelope and, for convenience, its decoded JSON payload.</summary>
public sealed record ReceiptResponse(string ReportId, string AuditId, long LogIndex, string ReportSha256, JsonNode? Payload, string CoseSign1);

public sealed record GetReceipt(Caller Caller, string ReportId) : IQuery<ReceiptResponse>;

public sealed class GetReceiptHandler(IIssuedReportStore reports, ReportAccessLog access) : IQueryHandler<GetReceipt, ReceiptResponse>
{
    public async ValueTask<ReceiptResponse> Handle(GetReceipt query, CancellationToken cancellationToken)
    {
        var issued = await reports.FindAsync(query.ReportId, cancellationToken);
        if (issued is null || issued.Tenant != query.Caller.Tenant)
        {
            throw new NotFoundException($"Report '{query.ReportId}' was not found.");
        }

        await access.RecordAsync(query.Caller, issued.Tenant, issued.ReportId, issued.AuditId, ReportAccessLog.Receipt, "ok", cancellationToken);
        var payload = System.Security.Cryptography.Cose.CoseMessage.DecodeSign1(issued.Receipt).Content;
        return new ReceiptResponse(issued.ReportId, issued.AuditId, issued.LogIndex, issued.Sha256,
            payload is { } p ? JsonNode.Parse(p.Span) : null, Convert.ToBase64String(issued.Receipt));
    }
}

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

public static class ReportsApi
{
    public static IEndpointRouteBuilder MapReportsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/reports").WithTags("Reports");
        group.MapGet("{id}/receipt", Receipt).RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Get a report's receipt")
            .WithDescription("COSE_Sign1 (base64) over JSON: report, audit, model, dataset and profile hashes, verdict, signing time, transparency-log index.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("access", Access).RequireAuthorization(Policies.ReadAccessLog)
            .WithSummary("Report access log")
            .WithDescription("Every download and verification of the tenant's reports (who, when, what); ?reportId= narrows it. Auditors only.");

        // The report of an audit keeps its address under the audit; the use case belongs to Reports.
        app.MapGet("api/v1/audits/{id}/report", AuditReport).WithTags("Reports").RequireAuthorization(Policies.ReadTenant)
            .WithSummary("Get an audit's signed PDF report").WithDescription("PAdES-signed PDF (application/pdf); 409 while the audit has not succeeded. Every download is recorded.")
            .Produces(StatusCodes.Status200OK, contentType: "application/pdf")
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Ok<ReceiptResponse>> Receipt(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetReceipt(Caller.From(context.User), id), cancellationToken));

    public static async Task<FileContentHttpResult> AuditReport(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken)
    {
        ReportDownload report = await mediator.Send(new GetAuditReport(Caller.From(context.User), id), cancellationToken);
        return TypedResults.File(report.Pdf, "application/pdf", $"{report.ReportId}.pdf");
    }

    public static async Task<Ok<IReadOnlyList<ReportAccessEntry>>> Access(string? reportId, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListReportAccess(Caller.From(context.User), reportId), cancellationToken));
}
