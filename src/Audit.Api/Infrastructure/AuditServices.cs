using Audit.Api.Features.Audits;
using Audit.Api.Features.Audits.Running;
using Audit.Api.Features.Reports;
using Audit.Api.Features.Transparency;
using Audit.Api.Features.Verifications;
using Audit.Api.Features.Webhooks;
using Audit.Api.Infrastructure.Isolation;
using Audit.Api.Infrastructure.Mediator;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Infrastructure.Storage;
using Audit.Api.Infrastructure.Telemetry;
using Audit.Evaluators;
using FluentValidation;

namespace Audit.Api.Infrastructure;

/// <summary>
/// The services every host of the service composes the same way: the API (<c>src/Audit.Api</c>) and the worker host
/// (<c>src/Audit.Worker</c>, no HTTP surface) both call <see cref="AddAuditServices"/>, so one configuration (keys,
/// data folder, database, storage, signing) means the same thing in either process. HTTP concerns (authentication,
/// endpoints, problem details, OpenAPI) stay in the API's <c>Program.cs</c>.
/// </summary>
public static class AuditServices
{
    /// <summary>Reads the <c>Audit</c> section as both hosts do.</summary>
    public static AuditOptions ReadOptions(IConfiguration configuration) =>
        configuration.GetSection(AuditOptions.Section).Get<AuditOptions>() ?? new AuditOptions();

    /// <summary>
    /// The simple single-line console format is the default; a configured formatter (<c>Logging:Console:FormatterName=json</c>
    /// for log shippers) is left alone. Either way scopes carry the audit id onto every line a run logs.
    /// </summary>
    public static void AddAuditLogging(ILoggingBuilder logging, IConfiguration configuration)
    {
        if (string.IsNullOrEmpty(configuration["Logging:Console:FormatterName"]))
        {
            logging.AddSimpleConsole(console =>
            {
                console.IncludeScopes = true;
                console.SingleLine = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
                console.UseUtcTimestamp = true;
            });
        }
        else
        {
            logging.AddConsole();
            logging.Services.Configure<Microsoft.Extensions.Logging.Console.JsonConsoleFormatterOptions>(json =>
            {
                json.IncludeScopes = true;
                json.UseUtcTimestamp = true;
                json.TimestampFormat ??= "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
    }

    /// <summary>
    /// Persistence, storage, signing, the transparency log, reports, evaluators, the mediator with its validators and,
    /// when <c>Audit:Worker:Enabled</c>, <c>Audit:Worker:Concurrency</c> audit workers.
    /// </summary>
    public static IServiceCollection AddAuditServices(this IServiceCollection services, IConfiguration configuration, AuditOptions options)
    {
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.Section));
        services.AddSingleton(TimeProvider.System);
        services.AddPersistence(options);
        services.AddAuditTelemetry(options.Telemetry);
        services.AddSingleton<ConfiguredKeys>();
        services.AddSingleton<DevelopmentKeys>();
        services.AddEvaluators();
        services.AddSingleton<IsolatedModelInspection>();
        services.AddSigning(configuration, options);
        services.AddTransparency(options);
        services.AddReports(options);
        services.AddVerifications(options);
        services.AddSingleton<WatchAudit>();
        services.AddSingleton<Features.Audits.Running.AuditQueueSignal>();
        services.AddWebhooks(options.Webhooks);
        if (options.Worker.Enabled)
        {
            services.AddAuditWorker(options.Worker.Concurrency);
        }

        services.AddMediator((global::Mediator.MediatorOptions mediator) =>
        {
            mediator.ServiceLifetime = ServiceLifetime.Scoped;
            mediator.PipelineBehaviors = [typeof(TracingBehavior<,>), typeof(ValidationBehavior<,>)];
        });
        services.AddValidatorsFromAssemblyContaining<AuditOptions>(ServiceLifetime.Singleton, includeInternalTypes: true);
        return services;
    }

    /// <summary>
    /// Owner-only permissions on the data folder (files 0600, folders 0700): the umask for what is created from now on,
    /// <see cref="OwnerOnly.Secure"/> for what an earlier release or another umask left.
    /// </summary>
    public static void PrepareDataFolder(AuditOptions options)
    {
        ProcessUmask.RestrictToOwner();
        OwnerOnly.CreateDirectory(options.DataPath);
        OwnerOnly.Secure(options.DataPath);
    }

    /// <summary>
    /// Brings the database schema up to date and loads (or, on the first start of an embedded PKI, creates) the report
    /// signing key before any audit runs, so every process signs with the key the first one made.
    /// </summary>
    public static async Task PrepareAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        await services.GetRequiredService<Migrator>().MigrateAsync(cancellationToken);
        _ = services.GetRequiredService<ISigningKeyProvider>().CurrentSigningCertificate;
    }
}
