using Audit.Api.Infrastructure.Errors;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Transparency;

public sealed record GetConsistencyProof(long First, long Second) : IQuery<ConsistencyProof>;

public sealed class GetConsistencyProofValidator : AbstractValidator<GetConsistencyProof>
{
    public GetConsistencyProofValidator()
    {
        RuleFor(x => x.First).GreaterThan(0).OverridePropertyName("first");
        RuleFor(x => x.Second).GreaterThanOrEqualTo(x => x.First).OverridePropertyName("second");
    }
}

public sealed class GetConsistencyProofHandler(TransparencyLog log) : IQueryHandler<GetConsistencyProof, ConsistencyProof>
{
    public async ValueTask<ConsistencyProof> Handle(GetConsistencyProof query, CancellationToken cancellationToken)
    {
        try
        {
            return await log.GetConsistencyProofAsync(query.First, query.Second, cancellationToken);
        }
        catch (TransparencyLogRangeException ex)
        {
            throw new NotFoundException(ex.Message);
        }
    }
}
