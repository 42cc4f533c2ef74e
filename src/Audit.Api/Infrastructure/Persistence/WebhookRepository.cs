using System.Data.Common;
using System.Globalization;
using System.Text.Json.Nodes;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>A tenant's webhook subscription.</summary>
public sealed record WebhookRow(string Id, string TenantId, string Url, string Events, string Secret, string CreatedAt)
{
    public const string Columns = "id AS Id, tenant_id AS TenantId, url AS Url, events AS Events, secret AS Secret, created_at AS CreatedAt";

    public IReadOnlyList<string> EventList => Events.Split(',', StringSplitOptions.RemoveEmptyEntries);
}

/// <summary>One event for one webhook: the outbox entry and, once tried, its delivery record.</summary>
public sealed record WebhookDeliveryRow(
    string Id, string WebhookId, string TenantId, string EventType, string PayloadJson, string Status, long Attempts,
    string NextAttemptAt, long? LastStatusCode, string? LastError, string CreatedAt, string? DeliveredAt)
{
    public const string Columns =
        "id AS Id, webhook_id AS WebhookId, tenant_id AS TenantId, event_type AS EventType, payload_json AS PayloadJson, status AS Status, " +
        "attempts AS Attempts, next_attempt_at AS NextAttemptAt, last_status_code AS LastStatusCode, last_error AS LastError, " +
        "created_at AS CreatedAt, delivered_at AS DeliveredAt";
}

/// <summary>Webhook subscriptions and their outbox of deliveries.</summary>
public sealed class WebhookRepository
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";

    private readonly IDatabase _database;

    public WebhookRepository(IDatabase database)
    {
        _database = database;
    }

    public async Task InsertAsync(WebhookRow row, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO webhooks (id, tenant_id, url, events, secret, created_at) VALUES (@Id, @TenantId, @Url, @Events, @Secret, @CreatedAt)",
            row, cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<WebhookRow>> ListAsync(string tenant, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {WebhookRow.Columns} FROM webhooks WHERE tenant_id = @tenant ORDER BY created_at, id", new { tenant }, cancellationToken: cancellationToken))).ToList();
    }

    public async Task<WebhookRow?> FindAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<WebhookRow>(new CommandDefinition(
            $"SELECT {WebhookRow.Columns} FROM webhooks WHERE id = @id AND tenant_id = @tenant", new { tenant, id }, cancellationToken: cancellationToken));
    }

    /// <summary>Deletes the subscription and drops what it had not delivered yet; false when it is not the tenant's.</summary>
    public async Task<bool> DeleteAsync(string tenant, string id, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
        int deleted = await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM webhooks WHERE id = @id AND tenant_id = @tenant", new { tenant, id }, transaction, cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            "DELETE FROM webhook_deliveries WHERE webhook_id = @id AND tenant_id = @tenant AND status = @pending",
            new { tenant, id, pending = Pending }, transaction, cancellationToken: cancellationToken));
        await transaction.CommitAsync(cancellationToken);
        return deleted == 1;
    }

    public async Task<IReadOnlyList<WebhookDeliveryRow>> DeliveriesAsync(string tenant, string webhookId, int limit, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        return (await connection.QueryAsync<WebhookDeliveryRow>(new CommandDefinition(
            $"SELECT {WebhookDeliveryRow.Columns} FROM webhook_deliveries WHERE webhook_id = @webhookId AND tenant_id = @tenant ORDER BY created_at DESC, id LIMIT @limit",
            new { tenant, webhookId, limit }, cancellationToken: cancellationToken))).ToList();
    }

    /// <summary>
    /// Writes one outbox row per subscription of the tenant that wants <paramref name="eventType"/>, inside the
    /// caller's transaction, so the event exists exactly when the change it announces was committed.
    /// </summary>
    public static async Task EnqueueAsync(
        DbConnection connection, DbTransaction transaction, string tenant, string eventType, JsonObject data, DateTimeOffset now, CancellationToken cancellationToken)
    {
        List<string> hooks = (await connection.QueryAsync<string>(new CommandDefinition(
            "SELECT id FROM webhooks WHERE tenant_id = @tenant AND (',' || events || ',') LIKE @pattern",
            new { tenant, pattern = $"%,{eventType},%" }, transaction, cancellationToken: cancellationToken))).ToList();
        if (hooks.Count == 0)
        {
            return;
        }

        string at = Text(now);
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO webhook_deliveries (id, webhook_id, tenant_id, event_type, payload_json, status, attempts, next_attempt_at, created_at)
            VALUES (@id, @webhookId, @tenant, @eventType, @payload, @pending, 0, @at, @at)
            """,
            hooks.Select(hook =>
            {
                string id = "whd_" + Guid.NewGuid().ToString("N");
                var payload = new JsonObject
                {
                    ["id"] = id,
                    ["type"] = eventType,
                    ["createdAt"] = at,
                    ["data"] = data.DeepClone(),
                };
                return new { id, webhookId = hook, tenant, eventType, payload = payload.ToJsonString(), pending = Pending, at };
            }),
            transaction, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Takes up to <paramref name="limit"/> due deliveries with their webhooks. Each is leased by moving its next
    /// attempt past <paramref name="leaseUntil"/> with a conditional update, so two delivery services never send one
    /// event at the same time, and a service that dies mid-send leaves it to be retried when the lease passes.
    /// </summary>
    public async Task<IReadOnlyList<(WebhookDeliveryRow Delivery, WebhookRow Webhook)>> TakeDueAsync(
        DateTimeOffset now, DateTimeOffset leaseUntil, int limit, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        List<WebhookDeliveryRow> due = (await connection.QueryAsync<WebhookDeliveryRow>(new CommandDefinition(
            $"SELECT {WebhookDeliveryRow.Columns} FROM webhook_deliveries WHERE status = @pending AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT @limit",
            new { pending = Pending, now = Text(now), limit }, cancellationToken: cancellationToken))).ToList();
        var taken = new List<(WebhookDeliveryRow, WebhookRow)>();
        foreach (WebhookDeliveryRow delivery in due)
        {
            int leased = await connection.ExecuteAsync(new CommandDefinition(
                "UPDATE webhook_deliveries SET next_attempt_at = @lease WHERE id = @Id AND status = @pending AND next_attempt_at = @NextAttemptAt",
                new { delivery.Id, delivery.NextAttemptAt, pending = Pending, lease = Text(leaseUntil) }, cancellationToken: cancellationToken));
            WebhookRow? hook = leased == 1 ? await FindAsync(delivery.TenantId, delivery.WebhookId, cancellationToken) : null;
            if (hook is not null)
            {
                taken.Add((delivery, hook));
            }
        }

        return taken;
    }

    /// <summary>Records one attempt: delivered, to be retried at <paramref name="retryAt"/>, or given up (retryAt null).</summary>
    public async Task RecordAttemptAsync(
        string id, bool delivered, int? statusCode, string? error, DateTimeOffset now, DateTimeOffset? retryAt, CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        string status = delivered ? Delivered : retryAt is null ? Failed : Pending;
        await connection.ExecuteAsync(new CommandDefinition(
            """
            UPDATE webhook_deliveries SET attempts = attempts + 1, status = @status, last_status_code = @statusCode, last_error = @error,
                next_attempt_at = @next, delivered_at = @deliveredAt
            WHERE id = @id
            """,
            new { id, status, statusCode, error, next = Text(retryAt ?? now), deliveredAt = delivered ? Text(now) : null },
            cancellationToken: cancellationToken));
    }

    private static string Text(DateTimeOffset value) => value.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
}
