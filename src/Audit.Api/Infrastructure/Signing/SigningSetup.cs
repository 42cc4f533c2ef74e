namespace Audit.Api.Infrastructure.Signing;

/// <summary>Registers the report-signing key: an external CA's PEM when configured, otherwise the embedded PKI.</summary>
public static class SigningSetup
{
    public static IServiceCollection AddSigning(this IServiceCollection services, IConfiguration configuration, AuditOptions options)
    {
        var signing = configuration.GetSection(SigningOptions.SectionName).Get<SigningOptions>() ?? new SigningOptions();
        services.AddSingleton<ISigningKeyProvider>(sp => signing.External is { CertificatePemPath.Length: > 0 } external
            ? new ExternalPemSigningKeyProvider(external)
            : new EmbeddedPki(options.DataPath, signing, sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
