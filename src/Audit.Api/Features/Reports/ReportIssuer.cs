using System.Security.Cryptography;
using System.Text.Json;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Issues a report: reserve its transparency-log index, render (stating that index), sign (PAdES B-B), append a
/// commitment to its statement at the reserved index, sign a receipt (COSE_Sign1) and store both. A crash after the
/// log append leaves a logged entry with no stored report; issuing again adds a new entry (the log only grows), so
/// nothing is lost or rewritten.
/// </summary>
public sealed class ReportIssuer(PadesSigner signer, TransparencyLog log, IIssuedReportStore store, ISigningKeyProvider keys, ServiceAddress address)
{
    public const string ReceiptContentType = "application/vnd.audit.receipt+json";

    public async Task<IssuedReport> IssueAsync(ReportModel model, CancellationToken cancellationToken)
    {
        var (index, entry, made) = await log.AppendReservedAsync(
            (reserved, _) => Task.FromResult(Make(model, reserved)), cancellationToken);
        var (signed, statement, statementBytes, sha256, keyId) = made;
        var payload = new ReceiptPayload(statement, index, Convert.ToHexStringLower(MerkleTree.HashLeaf(entry)),
            Convert.ToBase64String(statementBytes), Convert.ToBase64String(entry));
        var receipt = CoseEnvelope.Sign(JsonSerializer.SerializeToUtf8Bytes(payload), signed.Certificate, ReceiptContentType);
        var issued = new IssuedReport(model.ReportId, model.AuditId, model.Tenant, sha256, signed.Bytes.Length, signed.SigningTime, keyId, index, entry, receipt, statementBytes);
        await store.SaveAsync(issued, signed.Bytes, cancellationToken);
        return issued;
    }

    /// <summary>Renders and signs the report for log index <paramref name="index"/> and makes the entry that commits to it.</summary>
    private (byte[] Entry, (SignedPdf, ReportStatement, byte[], string, string) State) Make(ReportModel model, long index)
    {
        var root = keys.TrustAnchors.Count > 0 ? Convert.ToHexStringLower(SHA256.HashData(keys.TrustAnchors[0].RawData)) : "";
        var located = model with { Verification = new ReportVerificationFacts(index, address.BaseUrl, address.VerifyUrl, address.DocsUrl, root) };
        var document = ReportRenderer.Render(located);
        var signed = signer.Sign(document, $"Audit {model.AuditId}: verdict {model.Verdict.ToString().ToLowerInvariant()}");
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(signed.Bytes));
        var keyId = JsonWebKeys.KeyId(signed.Certificate);
        // The nonce makes the statement's hash in the public log unguessable from its (few possible) verdicts and hashes.
        var statement = new ReportStatement(
            ReportStatement.IssuedKind, model.ReportId, model.AuditId, sha256, model.Model.Sha256, model.Dataset?.Sha256,
            model.Profile.Id, model.Profile.Version, model.Profile.ContentHash, model.Verdict.ToString().ToLowerInvariant(),
            signed.SigningTime, keyId, index, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        var statementBytes = JsonSerializer.SerializeToUtf8Bytes(statement);
        var leaf = new LogLeaf(ReportStatement.IssuedKind, sha256, Convert.ToHexStringLower(SHA256.HashData(statementBytes)), signed.SigningTime);
        return (JsonSerializer.SerializeToUtf8Bytes(leaf), (signed, statement, statementBytes, sha256, keyId));
    }
}
