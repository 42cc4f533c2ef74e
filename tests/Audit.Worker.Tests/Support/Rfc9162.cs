using System.Security.Cryptography;

namespace Audit.Worker.Tests.Support;

/// <summary>
/// The client-side checks of RFC 9162 (Certificate Transparency 2.0), section 2.1.3.2 (inclusion) and 2.1.4.2
/// (consistency), written from the RFC's algorithms so the fault test does not trust the server's own Merkle code.
/// </summary>
public static class Rfc9162
{
    public static byte[] LeafHash(byte[] entry) => SHA256.HashData([0x00, .. entry]);

    public static bool VerifyInclusion(long index, long treeSize, byte[] leafHash, IReadOnlyList<byte[]> path, byte[] root)
    {
        if (index >= treeSize)
        {
            return false;
        }

        long fn = index;
        long sn = treeSize - 1;
        byte[] r = leafHash;
        foreach (byte[] p in path)
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = Node(p, r);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = Node(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && r.AsSpan().SequenceEqual(root);
    }

    public static bool VerifyConsistency(long first, long second, byte[] firstRoot, byte[] secondRoot, IReadOnlyList<byte[]> proof)
    {
        if (first == second)
        {
            return proof.Count == 0 && firstRoot.AsSpan().SequenceEqual(secondRoot);
        }

        if (first > second || first == 0 || proof.Count == 0)
        {
            return false;
        }

        var path = new List<byte[]>(proof);
        if ((first & (first - 1)) == 0)
        {
            path.Insert(0, firstRoot);
        }

        long fn = first - 1;
        long sn = second - 1;
        while ((fn & 1) == 1)
        {
            fn >>= 1;
            sn >>= 1;
        }

        byte[] fr = path[0];
        byte[] sr = path[0];
        foreach (byte[] c in path.Skip(1))
        {
            if (sn == 0)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                fr = Node(c, fr);
                sr = Node(c, sr);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                sr = Node(sr, c);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return fr.AsSpan().SequenceEqual(firstRoot) && sr.AsSpan().SequenceEqual(secondRoot) && sn == 0;
    }

    private static byte[] Node(byte[] left, byte[] right) => SHA256.HashData([0x01, .. left, .. right]);
}
