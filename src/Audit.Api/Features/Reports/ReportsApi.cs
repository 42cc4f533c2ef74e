using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Reports;

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
