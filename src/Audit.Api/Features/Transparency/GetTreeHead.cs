using Mediator;

namespace Audit.Api.Features.Transparency;

public sealed record GetTreeHead : IQuery<SignedTreeHead>;

public sealed class GetTreeHeadHandler(TransparencyLog log) : IQueryHandler<GetTreeHead, SignedTreeHead>
{
    public async ValueTask<SignedTreeHead> Handle(GetTreeHead query, CancellationToken cancellationToken) =>
        await log.GetTreeHeadAsync(cancellationToken);
}
