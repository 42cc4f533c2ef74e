using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Audit.Api.Features.Reports;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;
using Audit.Api.Tests.Transparency;

namespace Audit.Api.Tests.Reports;

public sealed class ReceiptTests(IssuedReportFixture fixture) : IClassFixture<IssuedReportFixture>
{
    [Fact]
    public void Receipt_IsACoseSign1_VerifiableWithThePublishedSigningKey()
    {
        var message = CoseMessage.DecodeSign1(fixture.Issued.Receipt);
        using var key = fixture.Services.Pki.CurrentSigningCertificate.GetECDsaPublicKey()!;

        Assert.True(message.VerifyEmbedded(key));
        Assert.Equal(SHA256.HashData(fixture.Services.Pki.CurrentSigningCertificate.RawData),
            message.ProtectedHeaders[CoseHeaderLabel.KeyIdentifier].GetValueAsBytes());
    }

    [Fact]
    public void Receipt_StatesTheReportHashesVerdictTimeAndLogIndex()
    {
        var payload = JsonSerializer.Deserialize<ReceiptPayload>(CoseMessage.DecodeSign1(fixture.Issued.Receipt).Content!.Value.Span)!;

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(fixture.Pdf)), payload.Statement.ReportSha256);
        Assert.Equal(new string('a', 64), payload.Statement.ModelSha256);
        Assert.Equal(new string('b', 64), payload.Statement.DatasetSha256);
        Assert.Equal(new string('c', 64), payload.Statement.ProfileContentHash);
        Assert.Equal("fail", payload.Statement.Verdict);
        Assert.Equal(fixture.Issued.SigningTime, payload.Statement.SigningTime);
        Assert.Equal(fixture.Issued.LogIndex, payload.LogIndex);
    }

    [Fact]
    public async Task ReceiptLeaf_IsIncludedInTheLog_UnderTheCurrentTreeHead()
    {
        var payload = JsonSerializer.Deserialize<ReceiptPayload>(CoseMessage.DecodeSign1(fixture.Issued.Receipt).Content!.Value.Span)!;
        var head = await fixture.Services.Log.GetTreeHeadAsync(CancellationToken.None);
        var proof = await fixture.Services.Log.GetInclusionProofAsync(payload.LogIndex, head.TreeSize, CancellationToken.None);

        // The leaf is the logged statement's exact bytes; the receipt states its hash.
        Assert.Equal(payload.LeafHash, Convert.ToHexStringLower(Rfc9162Verifier.Leaf(fixture.Issued.LogEntry)));
        Assert.True(Rfc9162Verifier.VerifyInclusion(payload.LogIndex, head.TreeSize, Convert.FromHexString(payload.LeafHash),
            [.. proof.AuditPath.Select(Convert.FromHexString)], Convert.FromHexString(head.RootHash)));
    }

    [Fact]
    public void AlteredReceipt_DoesNotVerify()
    {
        var altered = (byte[])fixture.Issued.Receipt.Clone();
        var verdictAt = altered.AsSpan().IndexOf("\"fail\""u8);
        "pass"u8.CopyTo(altered.AsSpan(verdictAt + 1));

        Assert.NotNull(CoseEnvelope.Verify(fixture.Issued.Receipt, fixture.Services.Pki.SigningCertificates));
        Assert.Null(CoseEnvelope.Verify(altered, fixture.Services.Pki.SigningCertificates));
    }
}
