namespace Audit.Api.Infrastructure.Telemetry;

/// <summary>The <c>Audit:Telemetry</c> section: the Prometheus endpoint and the optional OTLP trace export.</summary>
public sealed class TelemetryOptions
{
    /// <summary>Serve Prometheus metrics at all.</summary>
    public bool MetricsEnabled { get; set; } = true;

    /// <summary>Path of the Prometheus scrape endpoint.</summary>
    public string MetricsPath { get; set; } = "/metrics";

    /// <summary>
    /// When set, the scrape endpoint answers anonymously, but only on this port (add it to <c>Urls</c>, e.g.
    /// <c>http://+:8080;http://+:9464</c>, and keep it off the public network). When null the endpoint is on the
    /// API's own port and needs an admin key, so metrics never leak tenant activity to the internet by default.
    /// </summary>
    public int? MetricsPort { get; set; }

    /// <summary>OTLP endpoint for traces (e.g. <c>http://collector:4317</c>); none exported when null.</summary>
    public Uri? OtlpEndpoint { get; set; }
}
