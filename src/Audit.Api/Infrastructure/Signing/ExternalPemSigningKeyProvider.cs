using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>
/// A signing certificate issued by an organisation's own CA, loaded from PEM files. The chain file names the trust
/// anchor verifiers use; a hardware module would implement <see cref="ISigningKeyProvider"/> the same way with a key handle.
/// </summary>
public sealed class ExternalPemSigningKeyProvider : ISigningKeyProvider, IDisposable
{
    private readonly X509Certificate2 _signing;
    private readonly List<X509Certificate2> _intermediates = [];
    private readonly List<X509Certificate2> _anchors = [];

    public ExternalPemSigningKeyProvider(ExternalSigningKeyOptions options)
    {
        try
        {
            _signing = X509Certificate2.CreateFromPemFile(options.CertificatePemPath, options.PrivateKeyPemPath);
            var chain = new X509Certificate2Collection();
            chain.ImportFromPemFile(options.ChainPemPath);
            foreach (var certificate in chain)
            {
                (certificate.SubjectName.RawData.AsSpan().SequenceEqual(certificate.IssuerName.RawData) ? _anchors : _intermediates)
                    .Add(certificate);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException)
        {
            throw new SigningKeyException("The external signing certificate, key or chain could not be loaded.", ex);
        }

        using var key = _signing.GetECDsaPublicKey()
            ?? throw new SigningKeyException("The external signing certificate must carry an ECDSA key.");
        if (key.KeySize != 256)
        {
            throw new SigningKeyException("The external signing key must be ECDSA P-256.");
        }

        if (_anchors.Count == 0)
        {
            throw new SigningKeyException("The chain file must contain the self-signed root that verifiers trust.");
        }
    }

    public X509Certificate2 CurrentSigningCertificate => _signing;

    public IReadOnlyList<X509Certificate2> Intermediates => _intermediates;

    public IReadOnlyList<X509Certificate2> TrustAnchors => _anchors;

    public IReadOnlyList<X509Certificate2> SigningCertificates => [_signing];

    public void Dispose()
    {
        _signing.Dispose();
        foreach (var certificate in _intermediates.Concat(_anchors))
        {
            certificate.Dispose();
        }
    }
}
