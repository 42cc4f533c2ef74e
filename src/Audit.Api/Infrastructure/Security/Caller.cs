using System.Security.Claims;

namespace Audit.Api.Infrastructure.Security;

/// <summary>The authenticated key behind a request: who acts, for which tenant, in which role.</summary>
public sealed record Caller(string KeyId, string? TenantId, string Role)
{
    public const string TenantClaim = "audit:tenant";
    public const string KeyIdClaim = "audit:key";

    public static Caller From(ClaimsPrincipal principal) => new(
        principal.FindFirstValue(KeyIdClaim) ?? throw new InvalidOperationException("Request is not authenticated."),
        principal.FindFirstValue(TenantClaim),
        principal.FindFirstValue(ClaimTypes.Role) ?? "");

    /// <summary>The tenant, for handlers that require one (the policy already guaranteed it).</summary>
    public string Tenant => TenantId ?? throw new InvalidOperationException("This key is not bound to a tenant.");
}
