using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.SigningKeys;

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
        app.MapPost("api/v1/admin/signing-keys/rotate", Rotate)
            .WithTags("Signing keys")
            .RequireAuthorization(Policies.Admin)
            .WithSummary("Rotate the report-signing key")
            .WithDescription("Issues a new signing certificate under the embedded root; old certificates stay published. 409 with an external key.")
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Ok<PublishedCertificate>> Rotate(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new RotateSigningKey(), cancellationToken));

    public static async Task<Ok<SigningKeysResponse>> Get(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetSigningKeys(), cancellationToken));

    public static async Task<ContentHttpResult> RootPem(IMediator mediator, CancellationToken cancellationToken)
    {
        var keys = await mediator.Send(new GetSigningKeys(), cancellationToken);
        return TypedResults.Text(string.Concat(keys.Roots.Select(r => r.Pem + "\n")), "application/x-pem-file");
    }
}
