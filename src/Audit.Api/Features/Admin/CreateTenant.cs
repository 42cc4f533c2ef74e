using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>A tenant: the boundary of data visibility.</summary>
public sealed record TenantResponse(string Id, string Name, string CreatedAt)
{
    public static TenantResponse From(TenantRow row) => new(row.Id, row.Name, row.CreatedAt);
}

/// <summary>Creates a tenant.</summary>
public sealed record CreateTenant(string? Id, string? Name) : ICommand<TenantResponse>;

public sealed class CreateTenantValidator : AbstractValidator<CreateTenant>
{
    public CreateTenantValidator()
    {
        RuleFor(c => c.Id).NotEmpty().Matches(KebabCaseId.Pattern()).OverridePropertyName("id")
            .WithMessage("'id' must be lower-case kebab-case, 2 to 64 characters.");
        RuleFor(c => c.Name).NotEmpty().MaximumLength(200).OverridePropertyName("name");
    }
}

public sealed class CreateTenantHandler : ICommandHandler<CreateTenant, TenantResponse>
{
    private readonly TenantRepository _tenants;
    private readonly TimeProvider _time;

    public CreateTenantHandler(TenantRepository tenants, TimeProvider time)
    {
        _tenants = tenants;
        _time = time;
    }

    public async ValueTask<TenantResponse> Handle(CreateTenant command, CancellationToken cancellationToken)
    {
        var tenant = new TenantRow(command.Id!, command.Name!, _time.GetUtcNow().ToString("O"));
        return await _tenants.TryAddAsync(tenant, cancellationToken)
            ? TenantResponse.From(tenant)
            : throw new ConflictException($"Tenant '{command.Id}' already exists.");
    }
}
