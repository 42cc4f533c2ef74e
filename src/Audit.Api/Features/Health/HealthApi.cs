using System.Data.Common;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Dapper;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Audit.Api.Features.Health;

/// <summary>Ready when the database answers and the artifact store accepts a write.</summary>
public sealed class StorageHealthCheck : IHealthCheck
{
    private readonly IDatabase _database;
    private readonly ArtifactStore _store;

    public StorageHealthCheck(IDatabase database, ArtifactStore store)
    {
        _database = database;
        _store = store;
    }

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using DbConnection connection = await _database.OpenAsync(cancellationToken);
            await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM schema_migrations", cancellationToken: cancellationToken));
        }
        catch (DbException ex)
        {
            return HealthCheckResult.Unhealthy("The database does not answer.", ex);
        }

        return _store.IsWritable()
            ? HealthCheckResult.Healthy("Database and artifact store are available.")
            : HealthCheckResult.Unhealthy("The artifact store is not writable.");
    }
}

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        app.MapHealthChecks("/health/live", new() { Predicate = _ => false }).AllowAnonymous().WithTags("Health");
        app.MapHealthChecks("/health/ready", new() { Predicate = check => check.Tags.Contains("ready") }).AllowAnonymous().WithTags("Health");
        return app;
    }
}
