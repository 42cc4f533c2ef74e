using System.Security.Cryptography.X509Certificates;
using Audit.Api.Infrastructure.Signing;
using Mediator;

namespace Audit.Api.Features.SigningKeys;

/// <summary>A published certificate as PEM and JWK.</summary>
public sealed record PublishedCertificate(string KeyId, string Subject, DateTimeOffset NotBefore, DateTimeOffset NotAfter, bool Current, string Pem, JsonWebKey Jwk)
{
    public static PublishedCertificate From(X509Certificate2 certificate, bool current) => new(
        JsonWebKeys.KeyId(certificate), certificate.Subject, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime(),
        current, certificate.ExportCertificatePem(), JsonWebKeys.FromCertificate(certificate));
}

/// <summary>The roots to trust and every signing certificate, current and retired.</summary>
public sealed record SigningKeysResponse(IReadOnlyList<PublishedCertificate> Roots, IReadOnlyList<PublishedCertificate> SigningKeys);

public sealed record GetSigningKeys : IQuery<SigningKeysResponse>;

public sealed class GetSigningKeysHandler(ISigningKeyProvider keys) : IQueryHandler<GetSigningKeys, SigningKeysResponse>
{
    public ValueTask<SigningKeysResponse> Handle(GetSigningKeys query, CancellationToken cancellationToken)
    {
        var current = keys.CurrentSigningCertificate.Thumbprint;
        return ValueTask.FromResult(new SigningKeysResponse(
            [.. keys.TrustAnchors.Select(c => PublishedCertificate.From(c, current: false))],
            [.. keys.SigningCertificates.Select(c => PublishedCertificate.From(c, c.Thumbprint == current))]));
    }
}
