using Audit.Api.Infrastructure;

namespace Audit.Api.Features.Transparency;

/// <summary>Registers the report transparency log (files under the data directory, signed with the report key).</summary>
public static class TransparencySetup
{
    public static IServiceCollection AddTransparency(this IServiceCollection services, AuditOptions options)
    {
        services.AddSingleton<ITransparencyLogStore>(new FileTransparencyLogStore(options.DataPath));
        services.AddSingleton<TransparencyLog>();
        return services;
    }
}
