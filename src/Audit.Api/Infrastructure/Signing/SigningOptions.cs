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

    /// <summary>Distinguished name of the embedded root certificate.</summary>
    public string RootSubject { get; set; } = "CN=Audit Report Root CA, O=Audit";

    /// <summary>Distinguished name of embedded signing certificates (a serial suffix keeps rotated ones apart).</summary>
    public string SigningSubject { get; set; } = "CN=Audit Report Signing, O=Audit";

    public int RootValidityYears { get; set; } = 20;

    public int SigningValidityYears { get; set; } = 2;

    /// <summary>A certificate and key from an external CA; when set, the embedded PKI is not used for signing.</summary>
    public ExternalSigningKeyOptions? External { get; set; }
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
