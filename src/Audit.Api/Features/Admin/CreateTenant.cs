using System.Data.Common;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain;
using Dapper;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>A tenant: the boundary of data visibility.</summary>
public sealed record TenantResponse(string Id, string Name, string CreatedAt);

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
    private readonly IDatabase _database;
    private readonly TimeProvider _time;

    public CreateTenantHandler(IDatabase database, TimeProvider time)
    {
        _database = database;
        _time = time;
    }

    public async ValueTask<TenantResponse> Handle(CreateTenant command, CancellationToken cancellationToken)
    {
        var tenant = new TenantResponse(command.Id!, command.Name!, _time.GetUtcNow().ToString("O"));
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        int inserted = await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO tenants (id, name, created_at) SELECT @Id, @Name, @CreatedAt WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = @Id)",
            tenant, cancellationToken: cancellationToken));
        return inserted == 1 ? tenant : throw new ConflictException($"Tenant '{command.Id}' already exists.");
    }
}
