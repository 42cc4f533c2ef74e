using System.Data.Common;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Dapper;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>One artifact of the caller's tenant; another tenant's looks exactly like a missing one.</summary>
public sealed record GetArtifact(Caller Caller, string Id) : IQuery<ArtifactResponse>;

public sealed class GetArtifactHandler : IQueryHandler<GetArtifact, ArtifactResponse>
{
    private readonly IDatabase _database;

    public GetArtifactHandler(IDatabase database)
    {
        _database = database;
    }

    public async ValueTask<ArtifactResponse> Handle(GetArtifact query, CancellationToken cancellationToken)
    {
        ArtifactRow row = await FindAsync(_database, query.Caller.Tenant, query.Id, cancellationToken)
            ?? throw new NotFoundException($"Artifact '{query.Id}' was not found.");
        return row.ToResponse();
    }

    internal static async Task<ArtifactRow?> FindAsync(IDatabase database, string tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<ArtifactRow>(new CommandDefinition(
            $"SELECT {ArtifactRow.Columns} FROM artifacts WHERE id = @id AND tenant_id = @tenant",
            new { id, tenant },
            cancellationToken: cancellationToken));
    }
}
