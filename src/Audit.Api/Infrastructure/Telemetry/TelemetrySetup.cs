using Microsoft.Extensions.DependencyInjection.Extensions;
using Audit.Api.Infrastructure.Security;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Audit.Api.Infrastructure.Telemetry;

/// <summary>
/// OpenTelemetry for the service: traces of HTTP requests, mediator messages and probe runs; metrics of audit
/// transitions, queue depth, probe durations and busy workers, plus ASP.NET Core's own; a Prometheus endpoint.
/// </summary>
public static class TelemetrySetup
{
    public static IServiceCollection AddAuditTelemetry(this IServiceCollection services, TelemetryOptions options)
    {
        services.AddMetrics();
        services.TryAddSingleton<AuditTelemetry>();
        services.AddHostedService<QueueDepthGauge>();
        services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService("audit-api"))
            .WithTracing(tracing =>
            {
                tracing.AddSource(AuditTelemetry.Name).AddAspNetCoreInstrumentation();
                if (options.OtlpEndpoint is not null)
                {
                    tracing.AddOtlpExporter(otlp => otlp.Endpoint = options.OtlpEndpoint);
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(AuditTelemetry.Name).AddAspNetCoreInstrumentation();
                // Probes run from milliseconds (inventory) to many minutes (trigger scans on CPU).
                metrics.AddView("audit.probe.duration", new ExplicitBucketHistogramConfiguration
                {
                    Boundaries = [0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1800],
                });
                if (options.MetricsEnabled)
                {
                    metrics.AddPrometheusExporter();
                }
            });
        return services;
    }

    /// <summary>Maps the scrape endpoint: anonymous on the dedicated metrics port, otherwise admin only.</summary>
    public static IEndpointRouteBuilder MapAuditMetrics(this IEndpointRouteBuilder app, TelemetryOptions options)
    {
        if (!options.MetricsEnabled)
        {
            return app;
        }

        IEndpointConventionBuilder endpoint = app.MapPrometheusScrapingEndpoint(options.MetricsPath);
        if (options.MetricsPort is int port)
        {
            endpoint.RequireHost($"*:{port}").AllowAnonymous();
        }
        else
        {
            endpoint.RequireAuthorization(Policies.Admin);
        }

        endpoint.WithTags("Operations").WithSummary("Prometheus metrics").ExcludeFromDescription();
        return app;
    }
}
