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
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Http;
using Audit.Api.Infrastructure.Mediator;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Api.Infrastructure.Signing;
using Audit.Api.Infrastructure.Storage;
using Audit.Evaluators;
using FluentValidation;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);

builder.Services.AddOptions<AuditOptions>().Bind(builder.Configuration.GetSection(AuditOptions.Section));
AuditOptions options = builder.Configuration.GetSection(AuditOptions.Section).Get<AuditOptions>() ?? new AuditOptions();
// Owner-only files (0600) and folders (0700) under the data directory: umask for what is created from now on,
// Secure for what an earlier release or another umask left.
ProcessUmask.RestrictToOwner();
OwnerOnly.CreateDirectory(options.DataPath);
OwnerOnly.Secure(options.DataPath);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);

builder.Logging.AddSimpleConsole(console =>
{
    // Scopes carry the audit id onto every line a run logs.
    console.IncludeScopes = true;
    console.SingleLine = true;
    console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
    console.UseUtcTimestamp = true;
});

builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddPersistence(options);
builder.Services.AddSingleton<ConfiguredKeys>();
builder.Services.AddSingleton<DevelopmentKeys>();
builder.Services.AddEvaluators();
builder.Services.AddSigning(builder.Configuration, options);
builder.Services.AddTransparency(options);
builder.Services.AddReports(options);
builder.Services.AddVerifications();
if (options.Worker.Enabled)
{
    builder.Services.AddAuditWorker();
}

builder.Services.AddMediator((Mediator.MediatorOptions mediator) =>
{
    mediator.ServiceLifetime = ServiceLifetime.Scoped;
    mediator.PipelineBehaviors = [typeof(ValidationBehavior<,>)];
});
builder.Services.AddValidatorsFromAssemblyContaining<Program>(ServiceLifetime.Singleton, includeInternalTypes: true);

builder.Services.AddProblemDetails(problem => problem.CustomizeProblemDetails = context =>
    context.ProblemDetails.Extensions["traceId"] = context.HttpContext.TraceIdentifier);
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
builder.Services.AddOpenApi();

WebApplication app = builder.Build();

await app.Services.GetRequiredService<Migrator>().MigrateAsync(CancellationToken.None);
await app.Services.GetRequiredService<DevelopmentKeys>().EnsureAsync(CancellationToken.None);
OwnerOnly.Secure(options.DataPath);

app.UseSecurityHeaders();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseAuthentication();
app.UseAuthorization();

app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
app.MapHealthApi();
app.MapArtifactsApi(options.Artifacts.MaxSizeBytes);
app.MapProfilesApi();
app.MapAuditsApi();
app.MapAdminApi();
app.MapReportsApi();
app.MapSigningKeysApi();
app.MapTransparencyApi();
app.MapVerificationsApi();

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
