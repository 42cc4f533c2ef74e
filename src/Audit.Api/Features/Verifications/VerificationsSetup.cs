namespace Audit.Api.Features.Verifications;

/// <summary>Registers report verification.</summary>
public static class VerificationsSetup
{
    public static IServiceCollection AddVerifications(this IServiceCollection services) => services.AddSingleton<ReportVerifier>();
}
