using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Audit.Api.Tests.Signing;

public sealed class EmbeddedPkiTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void PrivateKeys_AreReadableOnlyByTheOwner()
    {
        using var directory = new TempDirectory();
        using var pki = new EmbeddedPki(directory.Path, new SigningOptions(), TimeProvider.System);
        pki.Rotate();

        var keys = Directory.EnumerateFiles(Path.Combine(directory.Path, "pki"), "*.key.pem", SearchOption.AllDirectories).ToList();
        Assert.Equal(3, keys.Count); // root + two signing keys
        Assert.All(keys, key => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key)));
        Assert.Empty(Directory.EnumerateFiles(directory.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public void SigningCertificate_IsEcdsaP256_ForSigningOnly_AndChainsToTheRoot()
    {
        using var directory = new TempDirectory();
        using var pki = new EmbeddedPki(directory.Path, new SigningOptions(), TimeProvider.System);
        var signing = pki.CurrentSigningCertificate;

        Assert.True(signing.HasPrivateKey);
        Assert.Equal(256, signing.GetECDsaPublicKey()!.KeySize);
        Assert.Equal("1.2.840.10045.4.3.2", signing.SignatureAlgorithm.Value);
        Assert.False(signing.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation, signing.Extensions.OfType<X509KeyUsageExtension>().Single().KeyUsages);

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(pki.TrustAnchors[0]);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        Assert.True(chain.Build(signing));
    }

    [Fact]
    public void Reopening_LoadsTheSameKeys_InsteadOfMakingNewOnes()
    {
        using var directory = new TempDirectory();
        string root, signing;
        using (var first = new EmbeddedPki(directory.Path, new SigningOptions(), TimeProvider.System))
        {
            root = first.TrustAnchors[0].Thumbprint;
            signing = first.CurrentSigningCertificate.Thumbprint;
        }

        using var second = new EmbeddedPki(directory.Path, new SigningOptions(), TimeProvider.System);
        Assert.Equal(root, second.TrustAnchors[0].Thumbprint);
        Assert.Equal(signing, second.CurrentSigningCertificate.Thumbprint);
        Assert.True(second.CurrentSigningCertificate.HasPrivateKey);
    }

    [Fact]
    public void Rotation_SwitchesTheSigningKey_KeepsOldCertificatesPublished_AndSurvivesARestart()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        string old, rotated;
        using (var pki = new EmbeddedPki(directory.Path, new SigningOptions(), time))
        {
            old = pki.CurrentSigningCertificate.Thumbprint;
            time.Advance(TimeSpan.FromDays(30));
            rotated = pki.Rotate().Thumbprint;
            Assert.NotEqual(old, rotated);
            Assert.Equal([rotated, old], pki.SigningCertificates.Select(c => c.Thumbprint));
        }

        using var reopened = new EmbeddedPki(directory.Path, new SigningOptions(), time);
        Assert.Equal(rotated, reopened.CurrentSigningCertificate.Thumbprint);
        Assert.Equal([rotated, old], reopened.SigningCertificates.Select(c => c.Thumbprint));
    }

    [Fact]
    public void Jwk_PublishesTheCertificatesPublicKey()
    {
        using var directory = new TempDirectory();
        using var pki = new EmbeddedPki(directory.Path, new SigningOptions(), TimeProvider.System);
        var certificate = pki.CurrentSigningCertificate;

        var jwk = JsonWebKeys.FromCertificate(certificate);

        Assert.Equal(("EC", "P-256", "ES256"), (jwk.KeyType, jwk.Curve, jwk.Algorithm));
        using var imported = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = FromBase64Url(jwk.X), Y = FromBase64Url(jwk.Y) },
        });
        var data = "published key"u8.ToArray();
        var signature = certificate.GetECDsaPrivateKey()!.SignData(data, HashAlgorithmName.SHA256);
        Assert.True(imported.VerifyData(data, signature, HashAlgorithmName.SHA256));
        Assert.Equal(certificate.RawData, Convert.FromBase64String(jwk.CertificateChain[0]));
    }

    [Fact]
    public void ExternalPemKey_IsUsedForSigning_WithItsOwnChain()
    {
        using var caDirectory = new TempDirectory();
        using var ca = new EmbeddedPki(caDirectory.Path, new SigningOptions { RootSubject = "CN=Customer CA" }, TimeProvider.System);
        var signingDirectory = Path.Combine(caDirectory.Path, "pki", "signing");
        var name = File.ReadAllText(Path.Combine(signingDirectory, "current")).Trim();

        using var external = new ExternalPemSigningKeyProvider(new ExternalSigningKeyOptions
        {
            CertificatePemPath = Path.Combine(signingDirectory, name + ".crt.pem"),
            PrivateKeyPemPath = Path.Combine(signingDirectory, name + ".key.pem"),
            ChainPemPath = Path.Combine(caDirectory.Path, "pki", "root.crt.pem"),
        });

        Assert.Equal(ca.CurrentSigningCertificate.Thumbprint, external.CurrentSigningCertificate.Thumbprint);
        Assert.True(external.CurrentSigningCertificate.HasPrivateKey);
        Assert.Equal("CN=Customer CA", Assert.Single(external.TrustAnchors).Subject);
    }

    [Fact]
    public void ExternalPemKey_WithoutARootInTheChain_IsRejected()
    {
        using var caDirectory = new TempDirectory();
        using var ca = new EmbeddedPki(caDirectory.Path, new SigningOptions(), TimeProvider.System);
        var signingDirectory = Path.Combine(caDirectory.Path, "pki", "signing");
        var name = File.ReadAllText(Path.Combine(signingDirectory, "current")).Trim();

        Assert.Throws<SigningKeyException>(() => new ExternalPemSigningKeyProvider(new ExternalSigningKeyOptions
        {
            CertificatePemPath = Path.Combine(signingDirectory, name + ".crt.pem"),
            PrivateKeyPemPath = Path.Combine(signingDirectory, name + ".key.pem"),
            ChainPemPath = Path.Combine(signingDirectory, name + ".crt.pem"),
        }));
    }

    private static byte[] FromBase64Url(string value)
    {
        var padded = value.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded.PadRight(padded.Length + ((4 - (padded.Length % 4)) % 4), '='));
    }
}
