using Audit.Api.Features.Admin;
using Audit.Api.Features.Artifacts;
using Audit.Api.Features.Audits;
using Audit.Api.Features.Health;
using Audit.Api.Features.Profiles;
using Audit.Api.Features.Audits.Running;
using Audit.Api.Features.Reports;
using Audit.Api.Features.SigningKeys;
using Audit.Api.Features.Transparency;
using Audit.Api.Features.Verifications;
using Audit.Api.Features.Webhooks;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Http;
using Audit.Api.Infrastructure.Isolation;
using Audit.Api.Infrastructure.Mediator;
using Audit.Api.Infrastructure.OpenApi;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Infrastructure.Storage;
using Audit.Api.Infrastructure.Telemetry;
using Audit.Evaluators;
using FluentValidation;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

if (args is [IsolatedModelInspection.ChildArgument, _])
{
    // The upload's executability check, run as a child process so that a native abort cannot take the service down.
    Environment.Exit(IsolatedModelInspection.RunChild(args, TimeProvider.System));
}

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);

builder.Services.AddOptions<AuditOptions>().Bind(builder.Configuration.GetSection(AuditOptions.Section));
AuditOptions options = builder.Configuration.GetSection(AuditOptions.Section).Get<AuditOptions>() ?? new AuditOptions();
// Owner-only files (0600) and folders (0700) under the data directory: umask for what is created from now on,
// Secure for what an earlier release or another umask left.
ProcessUmask.RestrictToOwner();
OwnerOnly.CreateDirectory(options.DataPath);
OwnerOnly.Secure(options.DataPath);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);

// The simple single-line format is the default; a configured formatter (Logging:Console:FormatterName=json for log
// shippers) is left alone. Either way scopes carry the audit id onto every line a run logs.
if (string.IsNullOrEmpty(builder.Configuration["Logging:Console:FormatterName"]))
{
    builder.Logging.AddSimpleConsole(console =>
    {
        console.IncludeScopes = true;
        console.SingleLine = true;
        console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        console.UseUtcTimestamp = true;
    });
}
else
{
    builder.Logging.AddConsole();
    builder.Services.Configure<Microsoft.Extensions.Logging.Console.JsonConsoleFormatterOptions>(json =>
    {
        json.IncludeScopes = true;
        json.UseUtcTimestamp = true;
        json.TimestampFormat ??= "yyyy-MM-ddTHH:mm:ss.fffZ";
    });
}

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddPersistence(options);
builder.Services.AddAuditTelemetry(options.Telemetry);
builder.Services.AddSingleton<ConfiguredKeys>();
builder.Services.AddSingleton<DevelopmentKeys>();
builder.Services.AddEvaluators();
builder.Services.AddSingleton<IsolatedModelInspection>();
builder.Services.AddSigning(builder.Configuration, options);
builder.Services.AddTransparency(options);
builder.Services.AddReports(options);
builder.Services.AddVerifications(options);
builder.Services.AddSingleton<WatchAudit>();
builder.Services.AddWebhooks(options.Webhooks);
if (options.Worker.Enabled)
{
    builder.Services.AddAuditWorker();
}

builder.Services.AddMediator((Mediator.MediatorOptions mediator) =>
{
    mediator.ServiceLifetime = ServiceLifetime.Scoped;
    mediator.PipelineBehaviors = [typeof(TracingBehavior<,>), typeof(ValidationBehavior<,>)];
});
builder.Services.AddValidatorsFromAssemblyContaining<Program>(ServiceLifetime.Singleton, includeInternalTypes: true);
// Messages name fields as clients send them ('pageSize', not 'page Size'). FluentValidation reads this one global.
ValidatorOptions.Global.DisplayNameResolver = (_, member, _) =>
    member is null ? null : char.ToLowerInvariant(member.Name[0]) + member.Name[1..];

builder.Services.AddProblemDetails(problem => problem.CustomizeProblemDetails = context =>
{
    context.ProblemDetails.Extensions["traceId"] = context.HttpContext.TraceIdentifier;
    // Status-code answers from authentication and authorization say what to do about them.
    context.ProblemDetails.Detail ??= AuthenticationProblems.Detail(context.HttpContext, context.ProblemDetails.Status);
});
// Unreadable or mistyped JSON bodies throw (instead of a bare 400) so the exception handler can say where it broke.
builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(routing => routing.ThrowOnBadRequest = true);
builder.Services.AddExceptionHandler<ProblemDetailsExceptionHandler>();

builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
    .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
builder.Services.AddAuthorizationBuilder()
    .AddPolicy(Policies.Submit, p => p.RequireRole(Roles.Compliance).RequireClaim(Caller.TenantClaim))
    .AddPolicy(Policies.ReadTenant, p => p.RequireRole(Roles.Compliance, Roles.Auditor).RequireClaim(Caller.TenantClaim))
    .AddPolicy(Policies.Verify, p => p.RequireRole(Roles.Regulator, Roles.Auditor, Roles.Compliance))
    .AddPolicy(Policies.ManageProfiles, p => p.RequireRole(Roles.Compliance).RequireClaim(Caller.TenantClaim))
    .AddPolicy(Policies.ReadAccessLog, p => p.RequireRole(Roles.Auditor).RequireClaim(Caller.TenantClaim))
    .AddPolicy(Policies.Admin, p => p.RequireRole(Roles.Admin));

builder.Services.Configure<FormOptions>(form => form.MultipartBodyLengthLimit = options.Artifacts.MaxSizeBytes + 1024 * 1024);
builder.Services.AddHealthChecks().AddCheck<StorageHealthCheck>("storage", tags: ["ready"]);
builder.Services.AddAuditOpenApi();

WebApplication app = builder.Build();

await app.Services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);
await app.Services.GetRequiredService<DevelopmentKeys>().EnsureAsync(CancellationToken.None);
OwnerOnly.Secure(options.DataPath);

app.UseSecurityHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();
app.UseRateLimiter();

app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
// Interactive documentation of /openapi/v1.json; its assets are embedded in the package (no CDN).
app.MapScalarApiReference("/docs", scalar => scalar.WithTitle("Audit API")).AllowAnonymous();
app.MapHealthApi();
app.MapArtifactsApi(options.Artifacts.MaxSizeBytes);
app.MapProfilesApi();
app.MapAuditsApi();
app.MapAdminApi();
app.MapReportsApi();
app.MapSigningKeysApi();
app.MapTransparencyApi();
app.MapVerificationsApi(options.Verification);
app.MapWebhooksApi();
app.MapAuditMetrics(options.Telemetry);

app.Lifetime.ApplicationStarted.Register(() =>
{
    ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Audit");
    AuditOptions current = app.Services.GetRequiredService<IOptions<AuditOptions>>().Value;
    logger.LogInformation(
        "Audit service listening on {Urls}. Data in {Data}. Authenticate with 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'; development keys (first start) are in {Keys}.",
        string.Join(", ", app.Urls), current.DataPath, Path.Combine(current.DataPath, "dev-keys"));
});

await app.RunAsync();

/// <summary>Entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;
