using System.Text.Json;
using System.Text.Json.Serialization;
using Audit.Api.Infrastructure.Signing;

namespace Audit.Api.Features.Transparency;

/// <summary>A tree head: the log's size and root hash at a moment, signed by the service (COSE_Sign1 over <see cref="TreeHeadStatement"/>).</summary>
public sealed record SignedTreeHead(long TreeSize, string RootHash, DateTimeOffset Timestamp, string Signature);

/// <summary>What a signed tree head's COSE payload says.</summary>
public sealed record TreeHeadStatement(
    [property: JsonPropertyName("treeSize")] long TreeSize,
    [property: JsonPropertyName("rootHash")] string RootHash,
    [property: JsonPropertyName("timestamp")] DateTimeOffset Timestamp);

/// <summary>An audit path for one entry in a tree of a given size.</summary>
public sealed record InclusionProof(long LeafIndex, long TreeSize, string LeafHash, IReadOnlyList<string> AuditPath);

/// <summary>A proof that the tree of size <c>First</c> is a prefix of the tree of size <c>Second</c>.</summary>
public sealed record ConsistencyProof(long First, long Second, IReadOnlyList<string> Path);

/// <summary>The requested index or tree size lies outside the log.</summary>
public sealed class TransparencyLogRangeException(string message) : Exception(message);

/// <summary>
/// The report transparency log: an append-only list of receipt statements hashed into an RFC 9162 Merkle tree.
/// A withdrawn report is a new entry, never a deletion; nothing in this type can remove or change an entry.
/// </summary>
public sealed class TransparencyLog(ITransparencyLogStore store, ISigningKeyProvider keys, TimeProvider time) : IDisposable
{
    public const string TreeHeadContentType = "application/vnd.audit.tree-head+json";

    // Guards the cache below. The store serialises appends (across processes, for the database store); the cache only
    // ever grows by what the store reads back, so every snapshot is a prefix of the log.
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly List<byte[]> _entries = [];
    private readonly List<byte[]> _leafHashes = [];

    /// <summary>Appends an entry; returns its index.</summary>
    public async Task<long> AppendAsync(byte[] entry, CancellationToken cancellationToken) =>
        await store.AppendAsync(entry, cancellationToken);

    /// <summary>
    /// Reserves the next index, lets <paramref name="build"/> make the entry knowing it (a report states its own log
    /// index inside the signed bytes the entry hashes), and appends it there. The store holds every other append (of
    /// this process or another sharing the store) back meanwhile, so the reserved index is the appended one; reads do
    /// not wait.
    /// </summary>
    public Task<(long Index, byte[] Entry, T State)> AppendReservedAsync<T>(
        Func<long, CancellationToken, Task<(byte[] Entry, T State)>> build, CancellationToken cancellationToken) =>
        store.AppendReservedAsync(build, cancellationToken);

    /// <summary>Indexes and bytes of the entries that record a report with this SHA-256 (lower-case hex).</summary>
    public async Task<IReadOnlyList<(long Index, byte[] Entry)>> FindByReportSha256Async(string reportSha256, CancellationToken cancellationToken)
    {
        var (entries, _) = await SnapshotAsync(cancellationToken);
        var needle = System.Text.Encoding.ASCII.GetBytes(reportSha256);
        var found = new List<(long, byte[])>();
        for (var i = 0; i < entries.Count; i++)
        {
            // A cheap byte search first; only candidate entries are parsed.
            if (entries[i].AsSpan().IndexOf(needle) >= 0 && ReportSha256Of(entries[i]) == reportSha256)
            {
                found.Add((i, entries[i]));
            }
        }

        return found;
    }

    private static string? ReportSha256Of(byte[] entry)
    {
        try
        {
            using var json = JsonDocument.Parse(entry);
            return json.RootElement.ValueKind == JsonValueKind.Object && json.RootElement.TryGetProperty("reportSha256", out var value)
                && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public async Task<byte[]> GetEntryAsync(long index, CancellationToken cancellationToken)
    {
        var (entries, _) = await SnapshotAsync(cancellationToken);
        return index >= 0 && index < entries.Count ? entries[(int)index] : throw new TransparencyLogRangeException($"No entry {index}.");
    }

    public async Task<SignedTreeHead> GetTreeHeadAsync(CancellationToken cancellationToken)
    {
        var (_, leaves) = await SnapshotAsync(cancellationToken);
        var root = Convert.ToHexStringLower(MerkleTree.RootHash(leaves, 0, leaves.Count));
        var now = time.GetUtcNow();
        var statement = new TreeHeadStatement(leaves.Count, root, now);
        var signature = CoseEnvelope.Sign(JsonSerializer.SerializeToUtf8Bytes(statement), keys.CurrentSigningCertificate, TreeHeadContentType);
        return new SignedTreeHead(leaves.Count, root, now, Convert.ToBase64String(signature));
    }

    public async Task<InclusionProof> GetInclusionProofAsync(long index, long treeSize, CancellationToken cancellationToken)
    {
        var (_, leaves) = await SnapshotAsync(cancellationToken);
        if (treeSize < 1 || treeSize > leaves.Count || index < 0 || index >= treeSize)
        {
            throw new TransparencyLogRangeException($"Entry {index} is not in a tree of size {treeSize} (log size {leaves.Count}).");
        }

        var path = MerkleTree.InclusionProof(leaves, (int)index, (int)treeSize);
        return new InclusionProof(index, treeSize, Convert.ToHexStringLower(leaves[(int)index]), [.. path.Select(Convert.ToHexStringLower)]);
    }

    public async Task<ConsistencyProof> GetConsistencyProofAsync(long first, long second, CancellationToken cancellationToken)
    {
        var (_, leaves) = await SnapshotAsync(cancellationToken);
        if (first < 1 || first > second || second > leaves.Count)
        {
            throw new TransparencyLogRangeException($"Need 0 < first ({first}) <= second ({second}) <= log size ({leaves.Count}).");
        }

        var path = MerkleTree.ConsistencyProof(leaves, (int)first, (int)second);
        return new ConsistencyProof(first, second, [.. path.Select(Convert.ToHexStringLower)]);
    }

    /// <summary>Checks a tree head's signature and returns what it states, or null when it does not verify.</summary>
    public TreeHeadStatement? VerifyTreeHead(SignedTreeHead head)
    {
        var payload = CoseEnvelope.Verify(Convert.FromBase64String(head.Signature), keys.SigningCertificates);
        var statement = payload is null ? null : JsonSerializer.Deserialize<TreeHeadStatement>(payload);
        return statement is not null && statement.TreeSize == head.TreeSize && string.Equals(statement.RootHash, head.RootHash, StringComparison.Ordinal)
            ? statement
            : null;
    }

    public void Dispose() => _gate.Dispose();

    private async Task<(IReadOnlyList<byte[]> Entries, IReadOnlyList<byte[]> Leaves)> SnapshotAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Other processes append to a shared store: read what was appended since the last look.
            foreach (var entry in await store.ReadFromAsync(_entries.Count, cancellationToken))
            {
                _entries.Add(entry);
                _leafHashes.Add(MerkleTree.HashLeaf(entry));
            }

            // Copies: appends after this point do not change what the caller proves against.
            return ([.. _entries], [.. _leafHashes]);
        }
        finally
        {
            _gate.Release();
        }
    }
}
