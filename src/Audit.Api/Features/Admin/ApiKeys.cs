using System.Data.Common;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Dapper;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>A key as listed: never the secret.</summary>
public sealed record ApiKeyResponse(string Id, string? TenantId, string Role, string Name, string CreatedAt, string? RevokedAt)
{
    internal const string Select = "SELECT id AS Id, tenant_id AS TenantId, role AS Role, name AS Name, created_at AS CreatedAt, revoked_at AS RevokedAt FROM api_keys";
}

/// <summary>A key just created: the only time its secret is shown.</summary>
public sealed record CreatedApiKey(string Id, string? TenantId, string Role, string Name, string Key);

/// <summary>Creates an API key for a role (and a tenant, for compliance and auditor keys).</summary>
public sealed record CreateApiKey(string? TenantId, string? Role, string? Name) : ICommand<CreatedApiKey>;

public sealed class CreateApiKeyValidator : AbstractValidator<CreateApiKey>
{
    public CreateApiKeyValidator()
    {
        RuleFor(c => c.Role).NotEmpty().Must(r => r is not null && Roles.All.Contains(r)).OverridePropertyName("role")
            .WithMessage("'role' must be compliance, auditor, regulator or admin.");
        RuleFor(c => c.TenantId).NotEmpty().When(c => c.Role is not null && Roles.IsTenantRole(c.Role)).OverridePropertyName("tenantId")
            .WithMessage("Compliance and auditor keys belong to a tenant.");
        RuleFor(c => c.TenantId).Empty().When(c => c.Role is Roles.Regulator or Roles.Admin).OverridePropertyName("tenantId")
            .WithMessage("Regulator and admin keys see no tenant data and take no tenant.");
        RuleFor(c => c.Name).MaximumLength(200).OverridePropertyName("name");
    }
}

public sealed class CreateApiKeyHandler : ICommandHandler<CreateApiKey, CreatedApiKey>
{
    private readonly IDatabase _database;
    private readonly TimeProvider _time;

    public CreateApiKeyHandler(IDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    public async ValueTask<CreatedApiKey> Handle(CreateApiKey command, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        if (command.TenantId is not null && await connection.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT COUNT(*) FROM tenants WHERE id = @id", new { id = command.TenantId }, cancellationToken: cancellationToken)) == 0)
        {
            throw new FluentValidation.ValidationException([new FluentValidation.Results.ValidationFailure("tenantId", $"Unknown tenant '{command.TenantId}'.")]);
        }

        string key = ApiKeyHasher.NewKey();
        var created = new CreatedApiKey("key_" + Guid.NewGuid().ToString("N"), command.TenantId, command.Role!, command.Name ?? command.Role!, key);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO api_keys (id, tenant_id, role, name, key_hash, created_at) VALUES (@Id, @TenantId, @Role, @Name, @hash, @now)",
            new { created.Id, created.TenantId, created.Role, created.Name, hash = ApiKeyHasher.Hash(key), now = _time.GetUtcNow().ToString("O") },
            cancellationToken: cancellationToken));
        return created;
    }
}

/// <summary>Every key, without secrets.</summary>
public sealed record ListApiKeys : IQuery<IReadOnlyList<ApiKeyResponse>>;

public sealed class ListApiKeysHandler : IQueryHandler<ListApiKeys, IReadOnlyList<ApiKeyResponse>>
{
    private readonly IDatabase _database;

    public ListApiKeysHandler(IDatabase database)
    {
        _database = database;
    }

    public async ValueTask<IReadOnlyList<ApiKeyResponse>> Handle(ListApiKeys query, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ApiKeyResponse>(new CommandDefinition(
            ApiKeyResponse.Select + " ORDER BY created_at",
            cancellationToken: cancellationToken))).ToList();
    }
}

/// <summary>Revokes a key; requests with it get 401 from then on.</summary>
public sealed record RevokeApiKey(string Id) : ICommand<ApiKeyResponse>;

public sealed class RevokeApiKeyHandler : ICommandHandler<RevokeApiKey, ApiKeyResponse>
{
    private readonly IDatabase _database;
    private readonly TimeProvider _time;

    public RevokeApiKeyHandler(IDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    public async ValueTask<ApiKeyResponse> Handle(RevokeApiKey command, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL",
            new { id = command.Id, now = _time.GetUtcNow().ToString("O") }, cancellationToken: cancellationToken));
        return await connection.QuerySingleOrDefaultAsync<ApiKeyResponse>(new CommandDefinition(
            ApiKeyResponse.Select + " WHERE id = @id",
            new { id = command.Id }, cancellationToken: cancellationToken))
            ?? throw new NotFoundException($"API key '{command.Id}' was not found.");
    }
}
