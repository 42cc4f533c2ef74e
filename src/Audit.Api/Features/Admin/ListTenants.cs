using Audit.Api.Infrastructure.Persistence;
using Mediator;

namespace Audit.Api.Features.Admin;

/// <summary>Every tenant.</summary>
public sealed record ListTenants : IQuery<IReadOnlyList<TenantResponse>>;

public sealed class ListTenantsHandler : IQueryHandler<ListTenants, IReadOnlyList<TenantResponse>>
{
    private readonly TenantRepository _tenants;

    public ListTenantsHandler(TenantRepository tenants)
    {
        _tenants = tenants;
    }

    public async ValueTask<IReadOnlyList<TenantResponse>> Handle(ListTenants query, CancellationToken cancellationToken) =>
        [.. (await _tenants.ListAsync(cancellationToken)).Select(TenantResponse.From)];
}
