namespace Audit.Api.Infrastructure.Signing;

/// <summary>Where the report-signing key comes from.</summary>
/// <remarks>
/// By default the service keeps its own small PKI (a root and a signing certificate) under
/// <c>{Audit:DataDirectory}/pki</c>. An organisation that wants its reports signed by a certificate from its own CA
/// (or, later, by a key held in a hardware module) sets <see cref="External"/> instead.
/// </remarks>
public sealed class SigningOptions
{
    public const string SectionName = "Audit:Signing";

    private string? _rootSubject;
    private string? _signingSubject;

    /// <summary>
    /// Who operates this service (e.g. "Example Assurance Ltd"): names the embedded root and signing certificates
    /// (CN and O), so a report's signer says who issued it. Unset, the names say "development". Certificates already
    /// created keep their names; a new name takes effect with a new PKI (or the next rotation, for the signer).
    /// </summary>
    public string? OperatorName { get; set; }

    /// <summary>Distinguished name of the embedded root certificate; derived from <see cref="OperatorName"/> unless set.</summary>
    public string RootSubject
    {
        get => _rootSubject ?? (OperatorName is { Length: > 0 } name
            ? $"CN={Quote(name + " Report Root CA")}, O={Quote(name)}"
            : "CN=Audit Report Root CA (development), O=Audit (development)");
        set => _rootSubject = value;
    }

    /// <summary>Distinguished name of embedded signing certificates; derived from <see cref="OperatorName"/> unless set.</summary>
    public string SigningSubject
    {
        get => _signingSubject ?? (OperatorName is { Length: > 0 } name
            ? $"CN={Quote(name + " Report Signing")}, O={Quote(name)}"
            : "CN=Audit Report Signing (development), O=Audit (development)");
        set => _signingSubject = value;
    }

    public int RootValidityYears { get; set; } = 20;

    public int SigningValidityYears { get; set; } = 2;

    /// <summary>A certificate and key from an external CA; when set, the embedded PKI is not used for signing.</summary>
    public ExternalSigningKeyOptions? External { get; set; }

    // Quoted, so commas and the like in a company's name stay inside the attribute (.NET's parser doubles a quote).
    private static string Quote(string value) => "\"" + value.Trim().Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}

/// <summary>PEM files of a signing certificate issued elsewhere.</summary>
public sealed class ExternalSigningKeyOptions
{
    /// <summary>The signing certificate (PEM).</summary>
    public string CertificatePemPath { get; set; } = "";

    /// <summary>Its ECDSA P-256 private key (PKCS#8 or SEC1 PEM). Future HSM support replaces this with a key handle.</summary>
    public string PrivateKeyPemPath { get; set; } = "";

    /// <summary>The issuing chain up to and including the trust anchor (PEM, several certificates allowed).</summary>
    public string ChainPemPath { get; set; } = "";
}
