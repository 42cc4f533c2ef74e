namespace Audit.Api.Features.Webhooks;

/// <summary>The <c>Audit:Webhooks</c> section.</summary>
public sealed class WebhookOptions
{
    /// <summary>Run the delivery service in this process.</summary>
    public bool DeliveryEnabled { get; set; } = true;

    /// <summary>
    /// Accept <c>http://</c> URLs to loopback addresses (tests, a local relay). Off by default: webhooks are https,
    /// and never to loopback, private or link-local addresses, so a tenant cannot make the service call its own network.
    /// </summary>
    public bool AllowLoopbackHttp { get; set; }

    /// <summary>Attempts per delivery before it is given up (the first try included).</summary>
    public int MaxAttempts { get; set; } = 6;

    /// <summary>Wait before the second attempt; it doubles for each further one.</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the delivery service reads the outbox.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Per-request timeout.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
