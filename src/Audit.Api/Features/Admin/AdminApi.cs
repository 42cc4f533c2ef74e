using Audit.Api.Infrastructure.Security;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Audit.Api.Features.Admin;

/// <summary>The JSON body for creating a tenant.</summary>
public sealed record CreateTenantRequest(string? Id, string? Name);

/// <summary>The JSON body for creating a key.</summary>
public sealed record CreateApiKeyRequest(string? TenantId, string? Role, string? Name);

public static class AdminApi
{
    public static IEndpointRouteBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/admin").WithTags("Admin").RequireAuthorization(Policies.Admin);
        group.MapPost("tenants", CreateTenant).WithSummary("Create a tenant").ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status409Conflict);
        group.MapGet("tenants", ListTenants).WithSummary("List tenants");
        group.MapPost("api-keys", CreateKey).WithSummary("Create an API key").WithDescription("The key is in the response once; only its hash is stored.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        group.MapGet("api-keys", ListKeys).WithSummary("List API keys (no secrets)");
        group.MapPost("api-keys/{id}/revoke", RevokeKey).WithSummary("Revoke an API key").ProducesProblem(StatusCodes.Status404NotFound);
        return app;
    }

    public static async Task<Created<TenantResponse>> CreateTenant(CreateTenantRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        TenantResponse tenant = await mediator.Send(new CreateTenant(request.Id, request.Name), cancellationToken);
        return TypedResults.Created($"/api/v1/admin/tenants/{tenant.Id}", tenant);
    }

    public static async Task<Ok<IReadOnlyList<TenantResponse>>> ListTenants(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListTenants(), cancellationToken));

    public static async Task<Created<CreatedApiKey>> CreateKey(CreateApiKeyRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        CreatedApiKey key = await mediator.Send(new CreateApiKey(request.TenantId, request.Role, request.Name), cancellationToken);
        return TypedResults.Created($"/api/v1/admin/api-keys/{key.Id}", key);
    }

    public static async Task<Ok<IReadOnlyList<ApiKeyResponse>>> ListKeys(IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListApiKeys(), cancellationToken));

    public static async Task<Ok<ApiKeyResponse>> RevokeKey(string id, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new RevokeApiKey(id), cancellationToken));
}
