using System.Data.Common;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Dapper;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Admin;

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
