using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>
/// The service's own small PKI on disk: one root CA and one or more signing certificates (ECDSA P-256, SHA-256).
/// </summary>
/// <remarks>
/// Layout under <c>{dataDirectory}/pki</c>: <c>root.crt.pem</c>, <c>root.key.pem</c>, <c>signing/{name}.crt.pem</c>,
/// <c>signing/{name}.key.pem</c> and <c>signing/current</c> naming the active one. Private keys are created with mode
/// 0600 from the first byte (never chmod-ed after the fact), and every file is written to a temporary name and renamed,
/// so a crash never leaves a half-written key. Rotation adds a signing certificate and leaves the old ones in place:
/// reports they signed keep verifying against the same root.
/// </remarks>
public sealed class EmbeddedPki : IRotatableSigningKeyProvider, IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly string _directory;
    private readonly string _signingDirectory;
    private readonly SigningOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private X509Certificate2 _root;
    private X509Certificate2 _current;
    private IReadOnlyList<X509Certificate2> _signingCertificates;

    public EmbeddedPki(string dataDirectory, SigningOptions options, TimeProvider time)
    {
        _directory = Path.Combine(dataDirectory, "pki");
        _signingDirectory = Path.Combine(_directory, "signing");
        _options = options;
        _time = time;
        Directory.CreateDirectory(_signingDirectory);
        lock (_gate)
        {
            _root = LoadOrCreateRoot();
            _current = LoadOrCreateCurrentSigning();
            _signingCertificates = LoadAllSigningCertificates();
        }
    }

    public X509Certificate2 CurrentSigningCertificate => Volatile.Read(ref _current);

    public IReadOnlyList<X509Certificate2> Intermediates => [];

    public IReadOnlyList<X509Certificate2> TrustAnchors => [_root];

    public IReadOnlyList<X509Certificate2> SigningCertificates => Volatile.Read(ref _signingCertificates);

    public X509Certificate2 Rotate()
    {
        lock (_gate)
        {
            var next = IssueSigningCertificate();
            Volatile.Write(ref _current, next);
            Volatile.Write(ref _signingCertificates, LoadAllSigningCertificates());
            return next;
        }
    }

    public void Dispose()
    {
        _root.Dispose();
        foreach (var certificate in _signingCertificates)
        {
            certificate.Dispose();
        }

        _current.Dispose();
    }

    private X509Certificate2 LoadOrCreateRoot()
    {
        var certPath = Path.Combine(_directory, "root.crt.pem");
        var keyPath = Path.Combine(_directory, "root.key.pem");
        if (File.Exists(certPath) && File.Exists(keyPath))
        {
            return LoadWithKey(certPath, keyPath);
        }

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(_options.RootSubject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = _time.GetUtcNow();
        using var root = request.CreateSelfSigned(now.AddMinutes(-5), now.AddYears(_options.RootValidityYears));
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem(), secret: true);
        WriteAtomically(certPath, root.ExportCertificatePem(), secret: false);
        return LoadWithKey(certPath, keyPath);
    }

    private X509Certificate2 LoadOrCreateCurrentSigning()
    {
        var pointer = Path.Combine(_signingDirectory, "current");
        if (File.Exists(pointer))
        {
            var name = File.ReadAllText(pointer).Trim();
            var certPath = Path.Combine(_signingDirectory, name + ".crt.pem");
            var keyPath = Path.Combine(_signingDirectory, name + ".key.pem");
            if (File.Exists(certPath) && File.Exists(keyPath))
            {
                return LoadWithKey(certPath, keyPath);
            }
        }

        return IssueSigningCertificate();
    }

    private X509Certificate2 IssueSigningCertificate()
    {
        var now = _time.GetUtcNow();
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive INTEGER without a leading zero byte
        var name = now.ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture) + "-" + Convert.ToHexStringLower(serial.AsSpan(0, 4));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(_options.SigningSubject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        // digitalSignature + nonRepudiation and no extended key usage: NSS (pdfsig) and OpenSSL (cms -verify) both
        // accept such a certificate for document signing without further purpose configuration.
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_root, true, false));

        var notAfter = now.AddYears(_options.SigningValidityYears);
        if (notAfter > _root.NotAfter)
        {
            notAfter = _root.NotAfter;
        }

        using var issued = request.Create(_root, now.AddMinutes(-5), notAfter, serial);
        var certPath = Path.Combine(_signingDirectory, name + ".crt.pem");
        var keyPath = Path.Combine(_signingDirectory, name + ".key.pem");
        WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem(), secret: true);
        WriteAtomically(certPath, issued.ExportCertificatePem(), secret: false);
        WriteAtomically(Path.Combine(_signingDirectory, "current"), name, secret: false);
        return LoadWithKey(certPath, keyPath);
    }

    private List<X509Certificate2> LoadAllSigningCertificates() =>
        [.. Directory.EnumerateFiles(_signingDirectory, "*.crt.pem")
            .Select(path => X509Certificate2.CreateFromPem(File.ReadAllText(path)))
            .OrderByDescending(certificate => certificate.NotBefore)
            .ThenByDescending(certificate => certificate.SerialNumber, StringComparer.Ordinal)];

    private static X509Certificate2 LoadWithKey(string certPath, string keyPath)
    {
        try
        {
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        }
        catch (CryptographicException ex)
        {
            throw new SigningKeyException($"The key pair at {certPath} could not be loaded.", ex);
        }
    }

    private static void WriteAtomically(string path, string content, bool secret)
    {
        var temporary = path + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4)) + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (secret && !OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        using (var stream = new FileStream(temporary, options))
        {
            stream.Write(Encoding.ASCII.GetBytes(content));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
