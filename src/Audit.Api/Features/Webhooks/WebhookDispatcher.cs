using System.Net;
using System.Net.Sockets;
using System.Text;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Persistence;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Webhooks;

/// <summary>
/// Sends what the outbox holds: signs each payload, POSTs it, and records the attempt. A failure (no answer, or
/// any status outside 2xx) is retried with exponential backoff up to <see cref="WebhookOptions.MaxAttempts"/>;
/// redirects are not followed (the target could be an address the URL check refused).
/// </summary>
public sealed class WebhookDispatcher : BackgroundService
{
    private const int Batch = 20;

    private readonly WebhookRepository _webhooks;
    private readonly TimeProvider _time;
    private readonly WebhookOptions _options;
    private readonly ILogger<WebhookDispatcher> _logger;
    private readonly HttpClient _http;

    public WebhookDispatcher(WebhookRepository webhooks, WebhookUrlPolicy policy, TimeProvider time, IOptions<AuditOptions> options, ILogger<WebhookDispatcher> logger)
    {
        _webhooks = webhooks;
        _time = time;
        _options = options.Value.Webhooks;
        _logger = logger;
        _http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            ConnectTimeout = _options.Timeout,
            // The address is checked where the connection is made, after DNS: a name that resolves into the
            // service's own network is refused even if it resolved elsewhere when the webhook was registered.
            ConnectCallback = async (context, cancellationToken) =>
            {
                IPAddress[] addresses = await Dns.GetHostAddressesAsync(context.DnsEndPoint.Host, cancellationToken);
                IPAddress address = addresses.FirstOrDefault(policy.IsAllowed)
                    ?? throw new HttpRequestException($"'{context.DnsEndPoint.Host}' resolves only to addresses webhooks may not reach.");
                var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        })
        {
            Timeout = _options.Timeout,
        };
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                DateTimeOffset now = _time.GetUtcNow();
                // The lease outlasts one attempt with margin; a dispatcher that dies mid-send is retried after it.
                var due = await _webhooks.TakeDueAsync(now, now + (_options.Timeout * 3), Batch, stoppingToken);
                foreach ((WebhookDeliveryRow delivery, WebhookRow webhook) in due)
                {
                    await SendAsync(delivery, webhook, stoppingToken);
                }

                if (due.Count < Batch)
                {
                    await Task.Delay(_options.PollInterval, _time, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The dispatcher must outlive a database hiccup; undelivered rows stay in the outbox.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _logger.LogError(ex, "Webhook dispatch loop failed; retrying");
                await Task.Delay(_options.PollInterval, _time, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task SendAsync(WebhookDeliveryRow delivery, WebhookRow webhook, CancellationToken stoppingToken)
    {
        int? status = null;
        string? error = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url)
            {
                Content = new StringContent(delivery.PayloadJson, Encoding.UTF8, "application/json"),
            };
            request.Headers.Add(WebhookSignature.Header, WebhookSignature.Create(webhook.Secret, _time.GetUtcNow(), delivery.PayloadJson));
            request.Headers.Add("Audit-Event", delivery.EventType);
            request.Headers.Add("Audit-Delivery", delivery.Id);
            using HttpResponseMessage response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stoppingToken);
            status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                error = $"HTTP {status}";
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or SocketException)
        {
            error = ex is TaskCanceledException ? "timed out" : ex.Message;
        }

        DateTimeOffset now = _time.GetUtcNow();
        long attempts = delivery.Attempts + 1;
        DateTimeOffset? retryAt = error is null || attempts >= _options.MaxAttempts
            ? null
            : now + (_options.InitialBackoff * Math.Pow(2, attempts - 1));
        await _webhooks.RecordAttemptAsync(delivery.Id, error is null, status, error, now, retryAt, CancellationToken.None);
        if (error is not null)
        {
            _logger.LogWarning("Webhook {Webhook} delivery {Delivery} attempt {Attempt} failed: {Error}", webhook.Id, delivery.Id, attempts, error);
        }
    }
}

/// <summary>Registers the webhook URL policy and, when enabled, the delivery service.</summary>
public static class WebhooksSetup
{
    public static IServiceCollection AddWebhooks(this IServiceCollection services, WebhookOptions options)
    {
        services.AddSingleton(new WebhookUrlPolicy(options.AllowLoopbackHttp));
        if (options.DeliveryEnabled)
        {
            services.AddHostedService<WebhookDispatcher>();
        }

        return services;
    }
}
