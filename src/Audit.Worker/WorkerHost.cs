using Audit.Api.Infrastructure;

namespace Audit.Worker;

/// <summary>
/// The worker host: no HTTP surface, only the audit workers, on the configuration keys and data folder the API reads
/// (<c>appsettings.json</c>, <c>Audit__*</c> environment variables, <c>--Audit:...</c> arguments), composed by the same
/// <see cref="AuditServices.AddAuditServices"/> the API calls.
/// </summary>
public static class WorkerHost
{
    public static IHost Build(string[] args, Action<IConfigurationBuilder>? configure = null)
    {
        HostApplicationBuilder builder = Host.CreateApplicationBuilder(args);
        configure?.Invoke(builder.Configuration);
        AuditOptions options = AuditServices.ReadOptions(builder.Configuration);
        AuditServices.PrepareDataFolder(options);
        AuditServices.AddAuditLogging(builder.Logging, builder.Configuration);
        // A worker host that did not run audits would do nothing: Audit:Worker:Enabled only switches the API's workers.
        options.Worker.Enabled = true;
        builder.Services.AddAuditServices(builder.Configuration, options);
        return builder.Build();
    }

    /// <summary>Migrates, loads the signing key, then runs the workers until the host is stopped.</summary>
    public static async Task RunAsync(IHost host, CancellationToken cancellationToken)
    {
        await AuditServices.PrepareAsync(host.Services, cancellationToken);
        AuditOptions options = host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<AuditOptions>>().Value;
        // Chosen in Program.cs before anything loaded libtorch; a host built another way (tests) gets the same answer.
        Audit.Evaluators.Runtime.OneDnnInstructionSetChoice oneDnn = Audit.Api.Infrastructure.Isolation.HostOneDnnInstructionSet.BeforeLibTorchLoads();
        host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Audit.Worker").LogInformation(
            "Audit worker host running {Concurrency} worker(s) on data in {Data}; OMP_WAIT_POLICY {OpenMpWaitPolicy}; oneDNN instruction-set limit: {OneDnnLimit} ({OneDnnReason})",
            options.Worker.Concurrency,
            options.DataPath,
            Environment.GetEnvironmentVariable(Audit.Evaluators.Runtime.OpenMpWaitPolicy.Variable) ?? Audit.Evaluators.Runtime.OpenMpWaitPolicy.Unset,
            oneDnn.Limit ?? "none",
            oneDnn.Reason);
        await host.RunAsync(cancellationToken);
    }
}
