using System.Security.Cryptography.X509Certificates;

namespace Audit.Api.Infrastructure.Signing;

/// <summary>The key that signs new reports, and every certificate needed to verify old and new ones.</summary>
public interface ISigningKeyProvider
{
    /// <summary>The certificate (with its private key) that signs from now on.</summary>
    X509Certificate2 CurrentSigningCertificate { get; }

    /// <summary>Certificates between the signing certificate and the anchor, anchor excluded (often empty).</summary>
    IReadOnlyList<X509Certificate2> Intermediates { get; }

    /// <summary>The roots verifiers must trust.</summary>
    IReadOnlyList<X509Certificate2> TrustAnchors { get; }

    /// <summary>Every signing certificate ever used, newest first, so reports signed before a rotation stay verifiable.</summary>
    IReadOnlyList<X509Certificate2> SigningCertificates { get; }
}

/// <summary>A provider that can retire its signing key and start a new one.</summary>
public interface IRotatableSigningKeyProvider : ISigningKeyProvider
{
    /// <summary>Issues a new signing certificate; old ones remain published for verification.</summary>
    X509Certificate2 Rotate();
}

/// <summary>The signing key material could not be loaded or is unsuitable.</summary>
public sealed class SigningKeyException(string message, Exception? inner = null) : Exception(message, inner);
