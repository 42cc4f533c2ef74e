using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>The tenant's artifacts, newest first.</summary>
public sealed record ListArtifacts(Caller Caller, int Page, int PageSize) : IQuery<ArtifactPage>;

/// <summary>A page of artifacts.</summary>
public sealed record ArtifactPage(IReadOnlyList<ArtifactResponse> Items, int Page, int PageSize, long Total);

public sealed class ListArtifactsValidator : AbstractValidator<ListArtifacts>
{
    public ListArtifactsValidator()
    {
        RuleFor(q => q.Page).GreaterThanOrEqualTo(1).OverridePropertyName("page");
        RuleFor(q => q.PageSize).InclusiveBetween(1, 200).OverridePropertyName("pageSize");
    }
}

public sealed class ListArtifactsHandler : IQueryHandler<ListArtifacts, ArtifactPage>
{
    private readonly ArtifactRepository _artifacts;

    public ListArtifactsHandler(ArtifactRepository artifacts)
    {
        _artifacts = artifacts;
    }

    public async ValueTask<ArtifactPage> Handle(ListArtifacts query, CancellationToken cancellationToken)
    {
        (IReadOnlyList<ArtifactRow> rows, long total) = await _artifacts.ListAsync(query.Caller.Tenant, query.Page, query.PageSize, cancellationToken);
        return new ArtifactPage([.. rows.Select(ArtifactResponse.From)], query.Page, query.PageSize, total);
    }
}
