using System.Security.Cryptography;

namespace Audit.Cli.Verification;

/// <summary>
/// The verifier's side of RFC 9162 (Certificate Transparency 2.0) §2.1: leaf and node hashing, and the inclusion
/// (§2.1.3.2) and consistency (§2.1.4.2) proof checks, written from the RFC's algorithms so that the client does not
/// share code with the log it checks.
/// </summary>
internal static class MerkleProofs
{
    public const int HashSize = 32;

    /// <summary>Leaf hash: SHA-256(0x00 || entry).</summary>
    public static byte[] HashLeaf(ReadOnlySpan<byte> entry)
    {
        var buffer = new byte[entry.Length + 1];
        entry.CopyTo(buffer.AsSpan(1));
        return SHA256.HashData(buffer);
    }

    /// <summary>Interior node hash: SHA-256(0x01 || left || right).</summary>
    public static byte[] HashChildren(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        var buffer = new byte[1 + left.Length + right.Length];
        buffer[0] = 0x01;
        left.CopyTo(buffer.AsSpan(1));
        right.CopyTo(buffer.AsSpan(1 + left.Length));
        return SHA256.HashData(buffer);
    }

    /// <summary>
    /// Recomputes the root of a tree of <paramref name="treeSize"/> leaves from one leaf and its audit path (§2.1.3.2);
    /// null when the path does not fit the index and size.
    /// </summary>
    public static byte[]? RootFromInclusionProof(long index, long treeSize, ReadOnlySpan<byte> leafHash, IReadOnlyList<byte[]> path)
    {
        if (index < 0 || index >= treeSize || path.Any(p => p.Length != HashSize))
        {
            return null;
        }

        long fn = index, sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in path)
        {
            if (sn == 0)
            {
                return null;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = HashChildren(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = HashChildren(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 ? r : null;
    }

    /// <summary>True when <paramref name="path"/> proves the tree (first, firstRoot) is a prefix of (second, secondRoot), §2.1.4.2.</summary>
    public static bool VerifyConsistency(long first, long second, ReadOnlySpan<byte> firstRoot, ReadOnlySpan<byte> secondRoot, IReadOnlyList<byte[]> path)
    {
        if (first < 1 || first > second || path.Any(p => p.Length != HashSize))
        {
            return false;
        }

        if (first == second)
        {
            return path.Count == 0 && firstRoot.SequenceEqual(secondRoot);
        }

        var proof = new List<byte[]>(path);
        if ((first & (first - 1)) == 0)
        {
            // A power-of-two first tree is a complete subtree of the second: its root starts the walk.
            proof.Insert(0, firstRoot.ToArray());
        }

        if (proof.Count == 0)
        {
            return false;
        }

        long fn = first - 1, sn = second - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        byte[] fr = proof[0], sr = proof[0];
        foreach (var c in proof.Skip(1))
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = HashChildren(c, fr);
                sr = HashChildren(c, sr);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                sr = HashChildren(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && fr.AsSpan().SequenceEqual(firstRoot) && sr.AsSpan().SequenceEqual(secondRoot);
    }
}
