using System.Security.Cryptography.X509Certificates;
using Audit.Api.Infrastructure.Signing;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.SigningKeys;

/// <summary>A published certificate as PEM and JWK.</summary>
public sealed record PublishedCertificate(string KeyId, string Subject, DateTimeOffset NotBefore, DateTimeOffset NotAfter, bool Current, string Pem, JsonWebKey Jwk);

/// <summary>The roots to trust and every signing certificate, current and retired.</summary>
public sealed record SigningKeysResponse(IReadOnlyList<PublishedCertificate> Roots, IReadOnlyList<PublishedCertificate> SigningKeys);

public sealed record GetSigningKeys : IQuery<SigningKeysResponse>;

public sealed class GetSigningKeysHandler(ISigningKeyProvider keys) : IQueryHandler<GetSigningKeys, SigningKeysResponse>
{
    public ValueTask<SigningKeysResponse> Handle(GetSigningKeys query, CancellationToken cancellationToken)
    {
        var current = keys.CurrentSigningCertificate.Thumbprint;
        PublishedCertificate Publish(X509Certificate2 certificate) => new(
            JsonWebKeys.KeyId(certificate), certificate.Subject, certificate.NotBefore.ToUniversalTime(), certificate.NotAfter.ToUniversalTime(),
            certificate.Thumbprint == current, certificate.ExportCertificatePem(), JsonWebKeys.FromCertificate(certificate));
        return ValueTask.FromResult(new SigningKeysResponse(
            [.. keys.TrustAnchors.Select(Publish)], [.. keys.SigningCertificates.Select(Publish)]));
    }
}

public static class SigningKeysApi
{
    public static IEndpointRouteBuilder MapSigningKeysApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/signing-keys").WithTags("Signing keys").AllowAnonymous();
        group.MapGet("", Get)
            .WithSummary("Published signing certificates")
            .WithDescription("The root to trust and every report-signing certificate (current and retired), as PEM and JWK. Public.");
        group.MapGet("root.pem", RootPem)
            .WithSummary("The root certificate as a PEM file")
            .WithDescription("For pdfsig/openssl: openssl cms -verify ... -CAfile root.pem.")
            .Produces(StatusCodes.Status200OK, contentType: "application/x-pem-file");
        return app;
    }

    public static async Task<Ok<SigningKeysResponse>> Get(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetSigningKeys(), cancellationToken));

    public static async Task<ContentHttpResult> RootPem(IMediator mediator, CancellationToken cancellationToken)
    {
        var keys = await mediator.Send(new GetSigningKeys(), cancellationToken);
        return TypedResults.Text(string.Concat(keys.Roots.Select(r => r.Pem + "\n")), "application/x-pem-file");
    }
}
