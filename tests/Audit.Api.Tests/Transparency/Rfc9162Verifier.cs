using System.Security.Cryptography;

namespace Audit.Api.Tests.Transparency;

/// <summary>
/// An independent verifier written line by line from RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency),
/// sharing no code with the prover in Audit.Api.
/// </summary>
internal static class Rfc9162Verifier
{
    public static byte[] Leaf(byte[] entry) => SHA256.HashData([0x00, .. entry]);

    public static byte[] Node(byte[] left, byte[] right) => SHA256.HashData([0x01, .. left, .. right]);

    /// <summary>§2.1.3.2: verifying an inclusion proof.</summary>
    public static bool VerifyInclusion(long leafIndex, long treeSize, byte[] leafHash, IReadOnlyList<byte[]> inclusionPath, byte[] rootHash)
    {
        // 1. Compare leaf_index against tree_size. If leaf_index >= tree_size, then fail.
        if (leafIndex >= treeSize)
        {
            return false;
        }

        // 2. Set fn to leaf_index and sn to tree_size - 1.
        long fn = leafIndex, sn = treeSize - 1;
        // 3. Set r to hash.
        var r = leafHash;
        // 4. For each value p in the inclusion_path array:
        foreach (var p in inclusionPath)
        {
            // a. If sn is 0, then stop the iteration and fail the proof verification.
            if (sn == 0)
            {
                return false;
            }

            // b. If LSB(fn) is set, or if fn is equal to sn, then:
            if ((fn & 1) == 1 || fn == sn)
            {
                // i. Set r to HASH(0x01 || p || r).
                r = Node(p, r);
                // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
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
                // Otherwise: set r to HASH(0x01 || r || p).
                r = Node(r, p);
            }

            // c. Finally, right-shift both fn and sn one time.
            fn >>= 1;
            sn >>= 1;
        }

        // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the root_hash are equal,
        //    then the log has proven the inclusion of hash. Otherwise, fail the proof verification.
        return sn == 0 && r.AsSpan().SequenceEqual(rootHash);
    }

    /// <summary>§2.1.4.2: verifying consistency between two tree heads.</summary>
    public static bool VerifyConsistency(long firstSize, long secondSize, byte[] firstHash, byte[] secondHash, IReadOnlyList<byte[]> consistencyPath)
    {
        // 1. If consistency_path is an empty array, stop and fail the proof verification.
        if (consistencyPath.Count == 0 || firstSize < 1 || firstSize > secondSize)
        {
            return false;
        }

        var path = consistencyPath.ToList();
        // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
        if ((firstSize & (firstSize - 1)) == 0)
        {
            path.Insert(0, firstHash);
        }

        // 3. Set fn to first - 1 and sn to second - 1.
        long fn = firstSize - 1, sn = secondSize - 1;
        // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        // 5. Set both fr and sr to the first value in the consistency_path array.
        var fr = path[0];
        var sr = path[0];
        // 6. For each subsequent value c in the consistency_path array:
        foreach (var c in path.Skip(1))
        {
            // a. If sn is 0, then stop the iteration and fail the proof verification.
            if (sn == 0)
            {
                return false;
            }

            // b. If LSB(fn) is set, or if fn is equal to sn, then:
            if ((fn & 1) == 1 || fn == sn)
            {
                // i. Set fr to HASH(0x01 || c || fr). Set sr to HASH(0x01 || c || sr).
                fr = Node(c, fr);
                sr = Node(c, sr);
                // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
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
                // Otherwise: set sr to HASH(0x01 || sr || c).
                sr = Node(sr, c);
            }

            // c. Finally, right-shift both fn and sn one time.
            fn >>= 1;
            sn >>= 1;
        }

        // 7. After completing iterating through the consistency_path array as described above, verify that the fr
        //    calculated is equal to the first_hash supplied, that the sr calculated is equal to the second_hash
        //    supplied, and that sn is 0.
        return fr.AsSpan().SequenceEqual(firstHash) && sr.AsSpan().SequenceEqual(secondHash) && sn == 0;
    }

    /// <summary>MTH straight from the §2.1.1 definition, over raw entries.</summary>
    public static byte[] RootOf(IReadOnlyList<byte[]> entries)
    {
        if (entries.Count == 0)
        {
            return SHA256.HashData([]);
        }

        if (entries.Count == 1)
        {
            return Leaf(entries[0]);
        }

        var k = 1;
        while (k * 2 < entries.Count)
        {
            k *= 2;
        }

        return Node(RootOf([.. entries.Take(k)]), RootOf([.. entries.Skip(k)]));
    }
}
