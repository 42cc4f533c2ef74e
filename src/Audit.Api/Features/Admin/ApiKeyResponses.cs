using Audit.Api.Infrastructure.Persistence;

namespace Audit.Api.Features.Admin;

/// <summary>A key as listed: never the secret.</summary>
public sealed record ApiKeyResponse(string Id, string? TenantId, string Role, string Name, string CreatedAt, string? RevokedAt)
{
    public static ApiKeyResponse From(ApiKeyRow row) => new(row.Id, row.TenantId, row.Role, row.Name, row.CreatedAt, row.RevokedAt);
}

/// <summary>A key just created: the only time its secret is shown.</summary>
public sealed record CreatedApiKey(string Id, string? TenantId, string Role, string Name, string Key);
