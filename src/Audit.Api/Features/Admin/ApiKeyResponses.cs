namespace Audit.Api.Features.Admin;

/// <summary>A key as listed: never the secret.</summary>
public sealed record ApiKeyResponse(string Id, string? TenantId, string Role, string Name, string CreatedAt, string? RevokedAt)
{
    internal const string Select = "SELECT id AS Id, tenant_id AS TenantId, role AS Role, name AS Name, created_at AS CreatedAt, revoked_at AS RevokedAt FROM api_keys";
}

/// <summary>A key just created: the only time its secret is shown.</summary>
public sealed record CreatedApiKey(string Id, string? TenantId, string Role, string Name, string Key);
