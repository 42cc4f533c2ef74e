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

// libtorch's OpenMP workers sleep instead of spinning while idle, unless the operator set OMP_WAIT_POLICY; must run
// before anything loads libtorch (docs/operations.md, "libtorch's OpenMP threads").
string openMpWaitPolicy = Audit.Evaluators.Runtime.OpenMpWaitPolicy.PreferPassive();

if (args is [IsolatedModelInspection.ChildArgument, _])
{
    // The upload's executability check, run as a child process so that a native abort cannot take the service down.
    Environment.Exit(IsolatedModelInspection.RunChild(args, TimeProvider.System));
}

if (args is [HostOneDnnInstructionSet.ChildArgument])
{
    // The convolution check under one oneDNN instruction-set limit, run as a child by the choice below.
    Environment.Exit(Audit.Evaluators.Runtime.OneDnnInstructionSet.RunCheckChild(Console.Out));
}

// oneDNN's instruction set: the most capable one whose convolutions are right here, chosen in child processes before
// this process loads libtorch (docs/operations.md, "Convolution kernels: the start-up check").
Audit.Evaluators.Runtime.OneDnnInstructionSetChoice oneDnnInstructionSet = HostOneDnnInstructionSet.BeforeLibTorchLoads();

WebApplicationBuilder builder = WebApplication.CreateBuilder(args);

AuditOptions options = AuditServices.ReadOptions(builder.Configuration);
AuditServices.PrepareDataFolder(options);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);

AuditServices.AddAuditLogging(builder.Logging, builder.Configuration);

// Persistence, storage, signing, reports, evaluators, the mediator and (Audit:Worker:Enabled) the audit workers, composed
// as the worker host (src/Audit.Worker) composes them.
builder.Services.AddAuditServices(builder.Configuration, options);
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

await AuditServices.PrepareAsync(app.Services, CancellationToken.None);
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
        "Audit service listening on {Urls}. Data in {Data}. Authenticate with 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'; development keys (first start) are in {Keys}. OMP_WAIT_POLICY {OpenMpWaitPolicy}. oneDNN instruction-set limit: {OneDnnLimit} ({OneDnnReason}).",
        string.Join(", ", app.Urls), current.DataPath, Path.Combine(current.DataPath, "dev-keys"), openMpWaitPolicy,
        oneDnnInstructionSet.Limit ?? "none", oneDnnInstructionSet.Reason);
});

await app.RunAsync();

/// <summary>Entry point, public for <c>WebApplicationFactory&lt;Program&gt;</c>.</summary>
public partial class Program;
