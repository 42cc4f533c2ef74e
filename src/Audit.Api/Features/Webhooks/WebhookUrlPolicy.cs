using System.Net;
using System.Net.Sockets;

namespace Audit.Api.Features.Webhooks;

/// <summary>
/// Where the service may send webhooks. A tenant chooses the URL, so without limits it could make the service call
/// addresses only the service can reach (cloud metadata, internal admin ports): server-side request forgery. URLs
/// must be https; the address actually connected to (checked at connect time, after DNS, so a name that later
/// resolves inside the network is still refused) must be public. Loopback over http is allowed only when
/// configured, for tests and local relays.
/// </summary>
public sealed class WebhookUrlPolicy
{
    private readonly bool _allowLoopbackHttp;

    public WebhookUrlPolicy(bool allowLoopbackHttp)
    {
        _allowLoopbackHttp = allowLoopbackHttp;
    }

    /// <summary>Null when the URL is acceptable; otherwise why not.</summary>
    public string? Problem(string? url)
    {
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out Uri? uri))
        {
            return "'url' must be an absolute URL.";
        }

        if (url.Length > 2000)
        {
            return "'url' must be at most 2000 characters.";
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return "'url' must not carry credentials.";
        }

        bool loopback = uri.IsLoopback;
        if (uri.Scheme == Uri.UriSchemeHttp && !(loopback && _allowLoopbackHttp))
        {
            return "'url' must use https.";
        }

        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return "'url' must use https.";
        }

        if (IPAddress.TryParse(uri.IdnHost, out IPAddress? address) && !IsAllowed(address))
        {
            return "'url' must not point at a private, loopback or link-local address.";
        }

        if (loopback && !_allowLoopbackHttp)
        {
            return "'url' must not point at a private, loopback or link-local address.";
        }

        return null;
    }

    /// <summary>Whether the service may connect to <paramref name="address"/>.</summary>
    public bool IsAllowed(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address))
        {
            return _allowLoopbackHttp;
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            byte[] v6 = address.GetAddressBytes();
            bool uniqueLocal = (v6[0] & 0xFE) == 0xFC;
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || uniqueLocal || address.Equals(IPAddress.IPv6Any));
        }

        byte[] b = address.GetAddressBytes();
        return !(b[0] == 0 // "this" network
            || b[0] == 10
            || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) // carrier-grade NAT
            || (b[0] == 169 && b[1] == 254) // link-local, cloud metadata
            || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 192 && b[1] == 0 && b[2] == 0)
            || (b[0] == 198 && (b[1] == 18 || b[1] == 19)) // benchmarking
            || b[0] >= 224); // multicast, reserved, broadcast
    }
}
