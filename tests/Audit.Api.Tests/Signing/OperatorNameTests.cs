using System.Security.Cryptography.X509Certificates;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Signing;

public sealed class OperatorNameTests
{
    [Fact]
    public void OperatorName_NamesTheEmbeddedCertificates_EscapingWhatADistinguishedNameReserves()
    {
        using var directory = new TempDirectory();
        var options = new SigningOptions { OperatorName = "Example Assurance, Ltd" };
        using var pki = new EmbeddedPki(directory.Path, options, TimeProvider.System);

        var signer = pki.CurrentSigningCertificate;
        Assert.Equal("Example Assurance, Ltd Report Signing", signer.GetNameInfo(X509NameType.SimpleName, forIssuer: false));
        Assert.Contains("O=\"Example Assurance, Ltd\"", signer.Subject, StringComparison.Ordinal);
        Assert.Equal("Example Assurance, Ltd Report Root CA", pki.TrustAnchors[0].GetNameInfo(X509NameType.SimpleName, forIssuer: false));
    }

    [Fact]
    public void WithoutAnOperator_TheNamesSayDevelopment_AndExplicitSubjectsStillWin()
    {
        Assert.Contains("(development)", new SigningOptions().SigningSubject, StringComparison.Ordinal);
        Assert.Contains("(development)", new SigningOptions().RootSubject, StringComparison.Ordinal);
        Assert.Equal("CN=Custom", new SigningOptions { OperatorName = "X", SigningSubject = "CN=Custom" }.SigningSubject);
    }
}
