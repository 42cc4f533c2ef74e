using Microsoft.Extensions.DependencyInjection.Extensions;
using Audit.Api.Infrastructure.Artifacts;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>Registers the database, its migrations, the blob store and one repository per aggregate.</summary>
public static class PersistenceSetup
{
    public static IServiceCollection AddPersistence(this IServiceCollection services, AuditOptions options)
    {
        // A factory, so the container disposes it (the PostgreSQL connection pool) with the host.
        services.AddSingleton<IDatabase>(_ => Databases.Create(options.Database, options.DataPath));
        services.AddSingleton(sp => new LegacyDataImport(
            sp.GetRequiredService<IDatabase>(), sp.GetRequiredService<Features.Transparency.DatabaseTransparencyLogStore>(), options.DataPath,
            sp.GetRequiredService<Artifacts.IBlobStorage>(),
            sp.GetRequiredService<ILogger<LegacyDataImport>>()));
        services.AddSingleton<DatabaseLocks>();
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
