using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;
using Audit.Testing;

namespace Audit.Api.Tests.Reports;

/// <summary>scripts/check_receipt.py, as docs/verification.md tells a regulator to run it, on a commitment-only log entry.</summary>
public sealed class CheckReceiptScriptTests(IssuedReportFixture fixture) : IClassFixture<IssuedReportFixture>
{
    [Fact]
    public async Task Script_AcceptsTheReceipt_AndRefusesAnotherPdf()
    {
        using var directory = new TempDirectory();
        var head = await fixture.Services.Log.GetTreeHeadAsync(CancellationToken.None);
        var proof = await fixture.Services.Log.GetInclusionProofAsync(fixture.Issued.LogIndex, head.TreeSize, CancellationToken.None);
        var signer = fixture.Services.Pki.CurrentSigningCertificate;
        Write(directory, "receipt.json", new JsonObject { ["coseSign1"] = Convert.ToBase64String(fixture.Issued.Receipt) });
        Write(directory, "keys.json", new JsonObject
        {
            ["signingKeys"] = new JsonArray(new JsonObject { ["keyId"] = JsonWebKeys.KeyId(signer), ["pem"] = signer.ExportCertificatePem(), ["subject"] = signer.Subject }),
            ["roots"] = new JsonArray(new JsonObject { ["pem"] = fixture.Services.Pki.TrustAnchors[0].ExportCertificatePem() }),
        });
        Write(directory, "head.json", new JsonObject { ["treeSize"] = head.TreeSize, ["rootHash"] = head.RootHash });
        Write(directory, "proof.json", new JsonObject { ["auditPath"] = new JsonArray([.. proof.AuditPath.Select(p => (JsonNode)p)]) });
        Write(directory, "entry.json", new JsonObject { ["entryBase64"] = Convert.ToBase64String(fixture.Issued.LogEntry) });
        File.WriteAllBytes(directory.File("report.pdf"), fixture.Pdf);
        var other = (byte[])fixture.Pdf.Clone();
        other[^10] ^= 1;
        File.WriteAllBytes(directory.File("other.pdf"), other);

        var (exitCode, output) = Run(directory, "report.pdf");
        Assert.True(exitCode == 0, output);
        Assert.Contains($"entry {fixture.Issued.LogIndex} is included in the tree of size {head.TreeSize}", output, StringComparison.Ordinal);

        var (otherExit, otherOutput) = Run(directory, "other.pdf");
        Assert.NotEqual(0, otherExit);
        Assert.Contains("receipt is for other bytes", otherOutput, StringComparison.Ordinal);
    }

    private static (int, string) Run(TempDirectory directory, string pdf) =>
        Tools.Run("python3", Path.Combine(RepositoryRoot.Folder, "scripts", "check_receipt.py"), directory.File("receipt.json"), directory.File("keys.json"),
            directory.File("head.json"), directory.File("proof.json"), directory.File("entry.json"), directory.File(pdf));

    private static void Write(TempDirectory directory, string name, JsonNode json) => File.WriteAllText(directory.File(name), json.ToJsonString());
}
