using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Cose;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Audit.Cli.Verification;

/// <summary>
/// Checks that a report is on the public transparency log, doing the Merkle math here: the log's entry for the
/// report's SHA-256, the current tree head's COSE signature (its certificate chained to the given root), an RFC 9162
/// inclusion proof to that head, and a consistency proof from the tree as it stood right after the entry was
/// appended (and from a tree head pinned earlier, if any) to the current one. The server is only a source of bytes.
/// </summary>
internal sealed class TransparencyChecker(HttpClient http, X509Certificate2Collection roots, string? apiKey)
{
    public const string LogInclusion = "transparencyLogInclusion";
    public const string LogConsistency = "transparencyLogConsistency";

    private const string TreeHeadContentType = "application/vnd.audit.tree-head+json";
    private static readonly CoseHeaderLabel X5Chain = new(33);

    public sealed record Outcome(IReadOnlyList<Check> Checks, LogEvidence? Evidence, JsonObject? CurrentHead);

    public async Task<Outcome> CheckAsync(string reportSha256, string? reportId, JsonObject? pinnedHead, CancellationToken cancellationToken)
    {
        try
        {
            return await CheckCoreAsync(reportSha256, reportId, pinnedHead, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or JsonException or LogProtocolException or FormatException
            or InvalidOperationException or CryptographicException)
        {
            var reason = ex is LogProtocolException ? ex.Message : $"The log at {http.BaseAddress} could not be read: {ex.Message}";
            return new([Check.Unavailable(LogInclusion, reason), Check.Unavailable(LogConsistency, "Not checked: " + reason)], null, null);
        }
    }

    private async Task<Outcome> CheckCoreAsync(string reportSha256, string? reportId, JsonObject? pinnedHead, CancellationToken cancellationToken)
    {
        var index = await FindEntryIndexAsync(reportSha256, reportId, cancellationToken);
        if (index is null)
        {
            return new([
                Check.Fail(LogInclusion, $"The log has no entry for a report with SHA-256 {reportSha256}: this report is not on the record."),
                Check.Fail(LogConsistency, "No entry to check."),
            ], null, null);
        }

        var entryJson = await GetJsonAsync($"api/v1/transparency/entries/{index}", cancellationToken);
        var entry = Convert.FromBase64String(Text(entryJson, "entryBase64"));
        var statement = JsonNode.Parse(entry) as JsonObject ?? throw new LogProtocolException($"Log entry {index} is not a JSON statement.");
        if (Text(statement, "reportSha256") != reportSha256 || (statement["kind"]?.GetValue<string>() is { } kind && kind != "report-issued"))
        {
            return new([
                Check.Fail(LogInclusion, $"Log entry {index} does not record a report with these bytes."),
                Check.Fail(LogConsistency, "No entry to check."),
            ], null, null);
        }

        var head = await GetJsonAsync("api/v1/transparency/tree-head", cancellationToken);
        var (headOk, headDetail, size, root, timestamp) = VerifyTreeHead(head);
        if (!headOk)
        {
            return new([Check.Fail(LogInclusion, headDetail), Check.Fail(LogConsistency, headDetail)], null, null);
        }

        var leaf = MerkleProofs.HashLeaf(entry);
        var inclusion = await GetJsonAsync(Invariant($"api/v1/transparency/proofs/inclusion?index={index}&treeSize={size}"), cancellationToken);
        var computed = MerkleProofs.RootFromInclusionProof(index.Value, size, leaf, Hashes(inclusion, "auditPath"));
        var evidence = new LogEvidence(index.Value, size, Convert.ToHexStringLower(root), timestamp);
        var checks = new List<Check>
        {
            computed is not null && computed.AsSpan().SequenceEqual(root)
                ? Check.Pass(LogInclusion, $"Entry {index} (leaf {Convert.ToHexStringLower(leaf)[..16]}…) is included in the signed tree head of size {size}, root {Convert.ToHexStringLower(root)[..16]}….")
                : Check.Fail(LogInclusion, $"The audit path of entry {index} does not lead to the signed root of the tree of size {size}."),
        };

        checks.Add(await CheckConsistencyAsync(index.Value, leaf, size, root, pinnedHead, cancellationToken));
        return new(checks, evidence, head);
    }

    /// <summary>
    /// The tree right after the entry was appended had <c>index + 1</c> leaves with the entry last: its root follows
    /// from the entry's audit path in that tree. Proving it a prefix of the signed current tree shows that nothing
    /// logged before the report has been changed or dropped since. A head pinned from an earlier run is checked too.
    /// </summary>
    private async Task<Check> CheckConsistencyAsync(long index, byte[] leaf, long size, byte[] root, JsonObject? pinnedHead, CancellationToken cancellationToken)
    {
        var firstSize = index + 1;
        var atAppend = await GetJsonAsync(Invariant($"api/v1/transparency/proofs/inclusion?index={index}&treeSize={firstSize}"), cancellationToken);
        var firstRoot = MerkleProofs.RootFromInclusionProof(index, firstSize, leaf, Hashes(atAppend, "auditPath"));
        if (firstRoot is null)
        {
            return Check.Fail(LogConsistency, $"The log's audit path for entry {index} in the tree of size {firstSize} does not fit.");
        }

        if (!await ProveConsistentAsync(firstSize, firstRoot, size, root, cancellationToken))
        {
            return Check.Fail(LogConsistency, $"The tree of size {firstSize} (when entry {index} was appended) is not a prefix of the signed tree of size {size}: the log was rewritten.");
        }

        var detail = $"The tree of size {firstSize} (when entry {index} was appended) is a prefix of the signed tree of size {size}.";
        if (pinnedHead is null)
        {
            return Check.Pass(LogConsistency, detail);
        }

        var (pinnedOk, pinnedDetail, pinnedSize, pinnedRoot, _) = VerifyTreeHead(pinnedHead);
        if (!pinnedOk)
        {
            return Check.Fail(LogConsistency, "The pinned tree head: " + pinnedDetail);
        }

        if (pinnedSize > size)
        {
            return Check.Fail(LogConsistency, $"The pinned tree head has {pinnedSize} entries, more than the current {size}: the log shrank.");
        }

        return await ProveConsistentAsync(pinnedSize, pinnedRoot, size, root, cancellationToken)
            ? Check.Pass(LogConsistency, detail + $" The pinned tree head of size {pinnedSize} is a prefix of it too.")
            : Check.Fail(LogConsistency, $"The pinned tree head of size {pinnedSize} is not a prefix of the signed tree of size {size}: the log was rewritten.");
    }

    private async Task<bool> ProveConsistentAsync(long first, byte[] firstRoot, long second, byte[] secondRoot, CancellationToken cancellationToken)
    {
        if (first == second)
        {
            return firstRoot.AsSpan().SequenceEqual(secondRoot);
        }

        var proof = await GetJsonAsync(Invariant($"api/v1/transparency/proofs/consistency?first={first}&second={second}"), cancellationToken);
        return MerkleProofs.VerifyConsistency(first, second, firstRoot, secondRoot, Hashes(proof, "path"));
    }

    /// <summary>
    /// Finds the entry by the report's SHA-256 (<c>GET /api/v1/transparency/entries?reportSha256=</c>, public); where
    /// the log does not answer that route, falls back to the report's receipt, which needs an API key of the owning
    /// tenant. Either way the entry's bytes are then fetched and checked here, so neither answer is trusted.
    /// </summary>
    private async Task<long?> FindEntryIndexAsync(string reportSha256, string? reportId, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri($"api/v1/transparency/entries?reportSha256={reportSha256}", UriKind.Relative), cancellationToken);
        if (response.IsSuccessStatusCode)
        {
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
            var entries = body switch
            {
                JsonArray array => array,
                JsonObject o when o["items"] is JsonArray items => items,
                JsonObject o when o["entries"] is JsonArray items => items,
                JsonObject o when o["index"] is not null => new JsonArray(o.DeepClone()),
                _ => throw new LogProtocolException($"The log's answer to the report lookup is not a list of entries."),
            };

            // The earliest entry is the issue; a later one for the same bytes would be a re-issue of the same report.
            return entries.OfType<JsonObject>().Select(e => e["index"]?.GetValue<long>()).Where(i => i is not null).Min();
        }

        if (response.StatusCode is not (HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed))
        {
            throw new LogProtocolException($"The log's report lookup answered {(int)response.StatusCode} {response.ReasonPhrase}.");
        }

        if (apiKey is null || reportId is null)
        {
            throw new LogProtocolException(
                $"The log at {http.BaseAddress} cannot look reports up by SHA-256 (GET /api/v1/transparency/entries?reportSha256= answered 404), " +
                (reportId is null ? "and the PDF carries no report id to find its receipt." : "and finding the entry through the report's receipt needs AUDIT_API_KEY."));
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"api/v1/reports/{Uri.EscapeDataString(reportId)}/receipt", UriKind.Relative));
        request.Headers.Add("X-Api-Key", apiKey);
        using var receipt = await http.SendAsync(request, cancellationToken);
        if (receipt.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        if (!receipt.IsSuccessStatusCode)
        {
            throw new LogProtocolException($"The report's receipt could not be read: {(int)receipt.StatusCode} {receipt.ReasonPhrase}.");
        }

        var json = JsonNode.Parse(await receipt.Content.ReadAsStringAsync(cancellationToken));
        return json?["logIndex"]?.GetValue<long>() ?? throw new LogProtocolException("The receipt has no logIndex.");
    }

    /// <summary>Checks a tree head's COSE_Sign1: certificate from x5chain chained to the root, kid, content type, ES256 signature, payload matching the fields.</summary>
    internal (bool Ok, string Detail, long Size, byte[] Root, DateTimeOffset Timestamp) VerifyTreeHead(JsonObject head)
    {
        long size = head["treeSize"]?.GetValue<long>() ?? -1;
        var rootHex = head["rootHash"]?.GetValue<string>() ?? "";
        var timestamp = head["timestamp"]?.GetValue<DateTimeOffset>() ?? default;
        byte[] root;
        CoseSign1Message message;
        try
        {
            root = Convert.FromHexString(rootHex);
            message = CoseMessage.DecodeSign1(Convert.FromBase64String(head["signature"]?.GetValue<string>() ?? ""));
        }
        catch (Exception ex) when (ex is FormatException or CryptographicException)
        {
            return (false, "The tree head or its signature is malformed: " + ex.Message, size, [], timestamp);
        }

        if (!message.UnprotectedHeaders.TryGetValue(X5Chain, out var x5chain) && !message.ProtectedHeaders.TryGetValue(X5Chain, out x5chain))
        {
            return (false, "The tree head's signature carries no certificate (x5chain).", size, root, timestamp);
        }

        using var certificate = X509CertificateLoader.LoadCertificate(x5chain.GetValueAsBytes());
        if (!message.ProtectedHeaders.TryGetValue(CoseHeaderLabel.KeyIdentifier, out var kid) ||
            !kid.GetValueAsBytes().AsSpan().SequenceEqual(SHA256.HashData(certificate.RawData)))
        {
            return (false, "The tree head's kid does not name the certificate it carries.", size, root, timestamp);
        }

        if (!message.ProtectedHeaders.TryGetValue(CoseHeaderLabel.ContentType, out var contentType) || contentType.GetValueAsString() != TreeHeadContentType)
        {
            return (false, "The signed object is not a tree head (content type).", size, root, timestamp);
        }

        var (chained, chainDetail) = SignatureVerifier.BuildChain(certificate, [], roots, timestamp);
        if (!chained)
        {
            return (false, "The tree head's signer: " + chainDetail, size, root, timestamp);
        }

        using var key = certificate.GetECDsaPublicKey();
        if (key is null || message.Content is not { } content || !message.VerifyEmbedded(key))
        {
            return (false, "The tree head's signature does not verify.", size, root, timestamp);
        }

        var statement = JsonNode.Parse(content.Span);
        var signedSize = statement?["treeSize"]?.GetValue<long>();
        var signedRoot = statement?["rootHash"]?.GetValue<string>();
        return signedSize == size && string.Equals(signedRoot, rootHex, StringComparison.OrdinalIgnoreCase) && root.Length == MerkleProofs.HashSize
            ? (true, $"Tree head of size {size} signed by {certificate.Subject}.", size, root, timestamp)
            : (false, "The tree head's fields differ from what its signature covers.", size, root, timestamp);
    }

    private async Task<JsonObject> GetJsonAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await http.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new LogProtocolException($"GET {path} answered {(int)response.StatusCode} {response.ReasonPhrase}.");
        }

        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellationToken)) as JsonObject
            ?? throw new LogProtocolException($"GET {path} did not answer a JSON object.");
    }

    private static string Text(JsonObject json, string name) =>
        json[name]?.GetValue<string>() ?? throw new LogProtocolException($"The log's answer has no '{name}'.");

    private static List<byte[]> Hashes(JsonObject json, string name) =>
        json[name] is JsonArray array
            ? [.. array.Select(h => Convert.FromHexString(h?.GetValue<string>() ?? ""))]
            : throw new LogProtocolException($"The log's answer has no '{name}' list.");

    private static string Invariant(FormattableString value) => value.ToString(CultureInfo.InvariantCulture);
}

/// <summary>The log answered something other than the protocol expects.</summary>
internal sealed class LogProtocolException(string message) : Exception(message);
