using System.Globalization;
using Audit.Api.Infrastructure.Persistence;

namespace Audit.Api.Features.Webhooks;

/// <summary>A webhook as clients see it; the secret is only ever in <see cref="CreatedWebhook"/>.</summary>
public sealed record WebhookResponse(string Id, string Url, IReadOnlyList<string> Events, DateTimeOffset CreatedAt)
{
    public static WebhookResponse From(WebhookRow row) =>
        new(row.Id, row.Url, row.EventList, DateTimeOffset.Parse(row.CreatedAt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind));
}

/// <summary>A new webhook with its signing secret, returned once.</summary>
public sealed record CreatedWebhook(string Id, string Url, IReadOnlyList<string> Events, DateTimeOffset CreatedAt, string Secret);

/// <summary>One delivery of an event to a webhook and how it went.</summary>
public sealed record WebhookDeliveryResponse(
    string Id, string EventType, string Status, long Attempts, int? LastStatusCode, string? LastError,
    DateTimeOffset CreatedAt, DateTimeOffset? NextAttemptAt, DateTimeOffset? DeliveredAt)
{
    public static WebhookDeliveryResponse From(WebhookDeliveryRow row) => new(
        row.Id, row.EventType, row.Status, row.Attempts, (int?)row.LastStatusCode, row.LastError,
        Parse(row.CreatedAt)!.Value,
        row.Status == WebhookRepository.Pending ? Parse(row.NextAttemptAt) : null,
        Parse(row.DeliveredAt));

    private static DateTimeOffset? Parse(string? value) =>
        value is null ? null : DateTimeOffset.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
}

/// <summary>The events a webhook can subscribe to: an audit entering each status, and each finding as its probe finishes.</summary>
public static class WebhookEvents
{
    public static readonly IReadOnlyList<string> All = ["audit.running", "audit.finding", "audit.succeeded", "audit.failed", "audit.cancelled"];
}
