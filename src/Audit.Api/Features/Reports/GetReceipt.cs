using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

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
