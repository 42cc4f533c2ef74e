using Microsoft.Extensions.DependencyInjection.Extensions;
using Audit.Api.Infrastructure.Artifacts;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>Registers the database, its migrations, the blob store and one repository per aggregate.</summary>
public static class PersistenceSetup
{
    public static IServiceCollection AddPersistence(this IServiceCollection services, AuditOptions options)
    {
        services.AddSingleton<IDatabase>(new SqliteDatabase(Path.Combine(options.DataPath, "audit.db")));
        services.AddSingleton<Migrator>();
        services.AddBlobStorage(options);
        services.AddSingleton<ArtifactStore>();
        // The audit repository counts status transitions; a host without the OpenTelemetry setup (a bare worker)
        // still gets the instruments, just no exporter.
        services.AddMetrics();
        services.TryAddSingleton<Telemetry.AuditTelemetry>();
        services.AddSingleton<AuditRepository>();
        services.AddSingleton<ArtifactRepository>();
        services.AddSingleton<ProfileRepository>();
        services.AddSingleton<ApiKeyRepository>();
        services.AddSingleton<TenantRepository>();
        services.AddSingleton<ReportAccessLog>();
        services.AddSingleton<ReportIssuingClaims>();
        services.AddSingleton<WebhookRepository>();
        return services;
    }
}
