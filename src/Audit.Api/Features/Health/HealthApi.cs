using System.Data.Common;
using Audit.Api.Features.Audits.Running;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
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
            await connection.ExecuteScalarAsync<long>(new CommandDefinition($"SELECT COUNT(*) FROM {Migrator.JournalTable}", cancellationToken: cancellationToken));
        }
        catch (DbException ex)
        {
            return HealthCheckResult.Unhealthy("The database does not answer.", ex);
        }

        return await _store.IsWritableAsync(cancellationToken)
            ? HealthCheckResult.Healthy("Database and artifact store are available.")
            : HealthCheckResult.Unhealthy("The artifact store is not writable.");
    }
}

public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        // Minimal-API handlers (not MapHealthChecks) so both appear in the OpenAPI document.
        app.MapGet("/health/live", Live).AllowAnonymous().WithTags("Health")
            .WithSummary("Liveness").WithDescription("'Healthy' while the process serves requests; checks nothing else.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        app.MapGet("/health/ready", Ready).AllowAnonymous().WithTags("Health")
            .WithSummary("Readiness").WithDescription("'Healthy' when the database answers, the artifact store accepts a write and (where this process runs audits) the probes are warmed up (Audit:Worker:WarmUp, a few seconds after a start); 503 'Unhealthy' otherwise.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain")
            .Produces<string>(StatusCodes.Status503ServiceUnavailable, "text/plain");
        return app;
    }

    public static ContentHttpResult Live(HttpContext context) => Answer(context, HealthStatus.Healthy);

    public static async Task<ContentHttpResult> Ready(HttpContext context, HealthCheckService health, IServiceProvider services, CancellationToken cancellationToken)
    {
        // Answered before the checks run: a health check that reports Unhealthy is logged as an error, and a warm-up at
        // every start is no error. The gate exists only where this process runs audits.
        if (services.GetService<ProbeWarmUpGate>() is { Done: false })
        {
            return Answer(context, HealthStatus.Unhealthy);
        }

        HealthReport report = await health.CheckHealthAsync(check => check.Tags.Contains("ready"), cancellationToken);
        return Answer(context, report.Status);
    }

    private static ContentHttpResult Answer(HttpContext context, HealthStatus status)
    {
        // A probe must see the present state, never a cached one.
        context.Response.Headers.CacheControl = "no-store, no-cache";
        return TypedResults.Text(
            status.ToString(), "text/plain", System.Text.Encoding.UTF8,
            status == HealthStatus.Unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
    }
}
