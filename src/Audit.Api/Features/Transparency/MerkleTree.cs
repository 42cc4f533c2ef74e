using System.Security.Cryptography;

namespace Audit.Api.Features.Transparency;

/// <summary>
/// Merkle tree hashing, audit paths and consistency proofs exactly as RFC 9162 (Certificate Transparency 2.0) §2.1
/// defines them: leaf hash SHA-256(0x00 || entry), interior node SHA-256(0x01 || left || right), and the tree split
/// at the largest power of two smaller than the number of leaves.
/// </summary>
public static class MerkleTree
{
    public const int HashSize = 32;

    public static byte[] HashLeaf(ReadOnlySpan<byte> entry)
    {
        var buffer = new byte[entry.Length + 1];
        entry.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> buffer = stackalloc byte[1 + (2 * HashSize)];
        buffer[0] = 0x01;
        left.CopyTo(buffer[1..]);
        right.CopyTo(buffer[(1 + HashSize)..]);
        return SHA256.HashData(buffer);
    }

    /// <summary>MTH(D[start:start+count]) over precomputed leaf hashes; the empty tree hashes the empty string.</summary>
    public static byte[] RootHash(IReadOnlyList<byte[]> leafHashes, int start, int count)
    {
        if (count == 0)
        {
            return SHA256.HashData([]);
        }

        if (count == 1)
        {
            return leafHashes[start];
        }

        var k = Split(count);
        return HashChildren(RootHash(leafHashes, start, k), RootHash(leafHashes, start + k, count - k));
    }

    /// <summary>PATH(m, D[0:n]) of RFC 9162 §2.1.3.1: the audit path for leaf <paramref name="index"/> in the tree of size <paramref name="treeSize"/>.</summary>
    public static IReadOnlyList<byte[]> InclusionProof(IReadOnlyList<byte[]> leafHashes, int index, int treeSize)
    {
        if (treeSize < 1 || treeSize > leafHashes.Count || index < 0 || index >= treeSize)
        {
            throw new ArgumentOutOfRangeException(nameof(index), "The leaf must lie inside a tree the log has reached.");
        }

        var proof = new List<byte[]>();
        Path(leafHashes, index, 0, treeSize, proof);
        return proof;
    }

    /// <summary>PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1 between tree sizes <paramref name="first"/> and <paramref name="second"/>.</summary>
    public static IReadOnlyList<byte[]> ConsistencyProof(IReadOnlyList<byte[]> leafHashes, int first, int second)
    {
        if (first < 1 || first > second || second > leafHashes.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(first), "Need 0 < first <= second <= the log's size.");
        }

        var proof = new List<byte[]>();
        SubProof(leafHashes, first, 0, second, complete: true, proof);
        return proof;
    }

    /// <summary>
    /// Recomputes the root from a leaf hash and its audit path by walking the same split structure PATH builds (the
    /// path is consumed from its end, the top of the tree) and compares it with <paramref name="rootHash"/>.
    /// </summary>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> proof, ReadOnlySpan<byte> rootHash)
    {
        if (index < 0 || index >= treeSize || proof.Any(p => p.Length != HashSize))
        {
            return false;
        }

        var computed = Recompute(leafHash.ToArray(), index, treeSize, proof, proof.Count);
        return computed is not null && computed.AsSpan().SequenceEqual(rootHash);
    }

    internal static int Split(int count)
    {
        var k = 1;
        while (k << 1 < count)
        {
            k <<= 1;
        }

        return k;
    }

    private static byte[]? Recompute(byte[] leafHash, long index, long size, IReadOnlyList<byte[]> proof, int available)
    {
        if (size == 1)
        {
            return available == 0 ? leafHash : null;
        }

        if (available == 0)
        {
            return null;
        }

        var k = (long)Split((int)Math.Min(size, int.MaxValue));
        var sibling = proof[available - 1];
        if (index < k)
        {
            var left = Recompute(leafHash, index, k, proof, available - 1);
            return left is null ? null : HashChildren(left, sibling);
        }

        var right = Recompute(leafHash, index - k, size - k, proof, available - 1);
        return right is null ? null : HashChildren(sibling, right);
    }

    private static void Path(IReadOnlyList<byte[]> leaves, int index, int start, int count, List<byte[]> proof)
    {
        if (count == 1)
        {
            return;
        }

        var k = Split(count);
        if (index < k)
        {
            Path(leaves, index, start, k, proof);
            proof.Add(RootHash(leaves, start + k, count - k));
        }
        else
        {
            Path(leaves, index - k, start + k, count - k, proof);
            proof.Add(RootHash(leaves, start, k));
        }
    }

    private static void SubProof(IReadOnlyList<byte[]> leaves, int m, int start, int count, bool complete, List<byte[]> proof)
    {
        if (m == count)
        {
            if (!complete)
            {
                proof.Add(RootHash(leaves, start, count));
            }

            return;
        }

        var k = Split(count);
        if (m <= k)
        {
            SubProof(leaves, m, start, k, complete, proof);
            proof.Add(RootHash(leaves, start + k, count - k));
        }
        else
        {
            SubProof(leaves, m - k, start + k, count - k, complete: false, proof);
            proof.Add(RootHash(leaves, start, k));
        }
    }
}
