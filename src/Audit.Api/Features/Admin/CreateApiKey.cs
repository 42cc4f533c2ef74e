using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
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
    private readonly ApiKeyRepository _keys;
    private readonly TenantRepository _tenants;
    private readonly TimeProvider _time;

    public CreateApiKeyHandler(ApiKeyRepository keys, TenantRepository tenants, TimeProvider time)
    {
        _keys = keys;
        _tenants = tenants;
        _time = time;
    }

    public async ValueTask<CreatedApiKey> Handle(CreateApiKey command, CancellationToken cancellationToken)
    {
        if (command.TenantId is not null && !await _tenants.ExistsAsync(command.TenantId, cancellationToken))
        {
            throw new FluentValidation.ValidationException([new FluentValidation.Results.ValidationFailure("tenantId", $"Unknown tenant '{command.TenantId}'.")]);
        }

        string key = ApiKeyHasher.NewKey();
        var created = new CreatedApiKey("key_" + Guid.NewGuid().ToString("N"), command.TenantId, command.Role!, command.Name ?? command.Role!, key);
        await _keys.InsertAsync(
            new ApiKeyRow(created.Id, created.TenantId, created.Role, created.Name, _time.GetUtcNow().ToString("O"), null),
            ApiKeyHasher.Hash(key),
            cancellationToken);
        return created;
    }
}
