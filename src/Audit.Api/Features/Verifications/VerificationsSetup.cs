using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Audit.Api.Infrastructure;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;

namespace Audit.Api.Features.Verifications;

/// <summary>Registers report verification and the per-IP rate limit on its public endpoints.</summary>
public static class VerificationsSetup
{
    /// <summary>The rate-limiting policy of the endpoints anyone may call (verify, report lookup).</summary>
    public const string PublicPolicy = "public-verification";

    public static IServiceCollection AddVerifications(this IServiceCollection services, AuditOptions options)
    {
        services.AddSingleton<ReportVerifier>();
        var limits = options.Verification;
        services.AddRateLimiter(limiter =>
        {
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            // One window per client address: an anonymous caller cannot spend another's allowance.
            limiter.AddPolicy(PublicPolicy, context => RateLimitPartition.GetFixedWindowLimiter(
                (context.Connection.RemoteIpAddress ?? IPAddress.None).ToString(),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = limits.PermitLimit, Window = limits.Window, QueueLimit = 0 }));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var http = rejected.HttpContext;
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : limits.Window;
                http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = http,
                    ProblemDetails = new ProblemDetails
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Title = "Too many requests.",
                        Detail = $"At most {limits.PermitLimit} verification requests per {limits.Window.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s from one address; retry after the Retry-After header's seconds.",
                    },
                });
            };
        });
        return services;
    }
}
