using Audit.Api.Infrastructure;

namespace Audit.Api.Features.Transparency;

/// <summary>Registers the report transparency log (in the database, signed with the report key).</summary>
public static class TransparencySetup
{
    public static IServiceCollection AddTransparency(this IServiceCollection services, AuditOptions options)
    {
        // In the database, so every process (the API, any number of workers) appends to one log.
        services.AddSingleton<DatabaseTransparencyLogStore>();
        services.AddSingleton<ITransparencyLogStore>(sp => sp.GetRequiredService<DatabaseTransparencyLogStore>());
        services.AddSingleton<TransparencyLog>();
        return services;
    }
}
