using Audit.Api.Features.SigningKeys;
using Audit.Api.Features.Transparency;
using Audit.Api.Features.Verifications;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Signing;

namespace Audit.Api.Features.Reports;

/// <summary>Registers report rendering, signing, the transparency log and verification.</summary>
public static class ReportsSetup
{
    public static IServiceCollection AddReports(this IServiceCollection services, IConfiguration configuration, AuditOptions options)
    {
        var signing = configuration.GetSection(SigningOptions.SectionName).Get<SigningOptions>() ?? new SigningOptions();
        services.AddSingleton<ISigningKeyProvider>(sp => signing.External is { CertificatePemPath.Length: > 0 } external
            ? new ExternalPemSigningKeyProvider(external)
            : new EmbeddedPki(options.DataPath, signing, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ITransparencyLogStore>(new FileTransparencyLogStore(options.DataPath));
        services.AddSingleton<TransparencyLog>();
        services.AddSingleton<IIssuedReportStore>(new FileIssuedReportStore(options.DataPath));
        services.AddSingleton<PadesSigner>();
        services.AddSingleton<ReportIssuer>();
        services.AddSingleton<ReportIssuing>();
        services.AddSingleton<ReportAccessLog>();
        services.AddSingleton<ReportVerifier>();
        return services;
    }

    public static IEndpointRouteBuilder MapReportsApis(this IEndpointRouteBuilder app)
    {
        app.MapReportsApi();
        app.MapSigningKeysApi();
        app.MapTransparencyApi();
        app.MapVerificationsApi();
        return app;
    }
}
