using Audit.Api.Infrastructure.Errors;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Transparency;

/// <summary>An audit path for entry <c>Index</c>; <c>TreeSize</c> defaults to the current size.</summary>
public sealed record GetInclusionProof(long Index, long? TreeSize) : IQuery<InclusionProof>;

public sealed class GetInclusionProofValidator : AbstractValidator<GetInclusionProof>
{
    public GetInclusionProofValidator()
    {
        RuleFor(x => x.Index).GreaterThanOrEqualTo(0).OverridePropertyName("index");
        RuleFor(x => x.TreeSize).GreaterThan(x => x.Index).When(x => x.TreeSize is not null).OverridePropertyName("treeSize");
    }
}

public sealed class GetInclusionProofHandler(TransparencyLog log) : IQueryHandler<GetInclusionProof, InclusionProof>
{
    public async ValueTask<InclusionProof> Handle(GetInclusionProof query, CancellationToken cancellationToken)
    {
        try
        {
            var size = query.TreeSize ?? (await log.GetTreeHeadAsync(cancellationToken)).TreeSize;
            return await log.GetInclusionProofAsync(query.Index, size, cancellationToken);
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}
