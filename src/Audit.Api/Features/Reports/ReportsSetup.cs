using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Persistence;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Audit.Api.Features.Reports;

/// <summary>
/// Registers report issuing: the model builder's inputs, the PAdES signer and the issuer. Rendering (PDFsharp,
/// ScottPlot, fonts) stays in this folder because issuing a report is its only use; signing keys, the
/// transparency log and verification register themselves (<c>AddSigning</c>, <c>AddTransparency</c>, <c>AddVerifications</c>).
/// </summary>
public static class ReportsSetup
{
    public static IServiceCollection AddReports(this IServiceCollection services, AuditOptions options)
    {
        // Records in the database (every process sees every report); PDF bytes in the blob storage (data directory or S3).
        services.AddSingleton<IIssuedReportStore>(sp => new DatabaseIssuedReportStore(
            sp.GetRequiredService<IDatabase>(),
            new FileIssuedReportStore(options.DataPath, sp.GetRequiredService<Infrastructure.Artifacts.IBlobStorage>())));
        services.AddSingleton<PadesSigner>();
        // A worker host has no server: without Audit:PublicBaseUrl its reports name http://localhost.
        services.AddSingleton(sp => new ServiceAddress(options.PublicBaseUrl,
            () => sp.GetService<IServer>()?.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()));
        services.AddSingleton<ReportIssuer>();
        services.AddSingleton<ReportIssuing>();
        return services;
    }
}
