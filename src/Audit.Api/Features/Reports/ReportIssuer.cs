using System.Security.Cryptography;
using System.Text.Json;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues a report: render, sign (PAdES B-B), append its statement to the transparency log, sign a receipt (COSE_Sign1)
/// and store both. A crash after the log append leaves a logged statement with no stored report; issuing again adds
/// a new entry (the log only grows), so nothing is lost or rewritten.
/// </summary>
public sealed class ReportIssuer(PadesSigner signer, TransparencyLog log, IIssuedReportStore store)
{
    public const string ReceiptContentType = "application/vnd.audit.receipt+json";

    public async Task<IssuedReport> IssueAsync(ReportModel model, CancellationToken cancellationToken)
    {
        var document = ReportRenderer.Render(model);
        var signed = signer.Sign(document, $"Audit {model.AuditId}: verdict {model.Verdict.ToString().ToLowerInvariant()}");
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(signed.Bytes));
        var keyId = JsonWebKeys.KeyId(signed.Certificate);
        var statement = new ReportStatement(
            ReportStatement.IssuedKind, model.ReportId, model.AuditId, sha256, model.Model.Sha256, model.Dataset?.Sha256,
            model.Profile.Id, model.Profile.Version, model.Profile.ContentHash, model.Verdict.ToString().ToLowerInvariant(),
            signed.SigningTime, keyId);
        var entry = JsonSerializer.SerializeToUtf8Bytes(statement);
        var index = await log.AppendAsync(entry, cancellationToken);
        var payload = new ReceiptPayload(statement, index, Convert.ToHexStringLower(MerkleTree.HashLeaf(entry)));
        var receipt = CoseEnvelope.Sign(JsonSerializer.SerializeToUtf8Bytes(payload), signed.Certificate, ReceiptContentType);
        var issued = new IssuedReport(model.ReportId, model.AuditId, model.Tenant, sha256, signed.Bytes.Length, signed.SigningTime, keyId, index, entry, receipt);
        await store.SaveAsync(issued, signed.Bytes, cancellationToken);
        return issued;
    }
}
