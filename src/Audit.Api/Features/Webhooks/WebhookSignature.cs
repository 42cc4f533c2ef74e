using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Audit.Api.Features.Webhooks;

/// <summary>
/// The <c>Audit-Signature</c> header: <c>t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, t + "." + body))</c>. Signing
/// the timestamp with the body lets a receiver refuse replays older than its tolerance.
/// </summary>
public static class WebhookSignature
{
    public const string Header = "Audit-Signature";

    public static string Create(string secret, DateTimeOffset timestamp, string body)
    {
        string t = timestamp.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return $"t={t},v1={Compute(secret, t, body)}";
    }

    /// <summary>True when the header signs <paramref name="body"/> with the secret within <paramref name="tolerance"/> of now.</summary>
    public static bool Verify(string secret, string header, string body, DateTimeOffset now, TimeSpan tolerance)
    {
        string? t = null;
        var signatures = new List<string>();
        foreach (string part in header.Split(','))
        {
            string[] pair = part.Split('=', 2);
            if (pair.Length != 2)
            {
                continue;
            }

            if (pair[0] == "t")
            {
                t = pair[1];
            }
            else if (pair[0] == "v1")
            {
                signatures.Add(pair[1]);
            }
        }

        if (t is null || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out long seconds)
            || (now - DateTimeOffset.FromUnixTimeSeconds(seconds)).Duration() > tolerance)
        {
            return false;
        }

        byte[] expected = Encoding.ASCII.GetBytes(Compute(secret, t, body));
        return signatures.Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), expected));
    }

    private static string Compute(string secret, string t, string body) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(t + "." + body)));
}
