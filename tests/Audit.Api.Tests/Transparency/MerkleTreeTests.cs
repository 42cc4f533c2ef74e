using System.Security.Cryptography;
using System.Text;
using Audit.Api.Features.Transparency;

namespace Audit.Api.Tests.Transparency;

public sealed class MerkleTreeTests
{
    private static readonly List<byte[]> Entries = [.. Enumerable.Range(0, 33).Select(i => Encoding.UTF8.GetBytes($"entry {i}"))];
    private static readonly List<byte[]> Leaves = [.. Entries.Select(e => MerkleTree.HashLeaf(e))];

    [Fact]
    public void EmptyTree_HashesTheEmptyString()
    {
        Assert.Equal(SHA256.HashData([]), MerkleTree.RootHash([], 0, 0));
    }

    [Fact]
    public void LeafAndNodeHashes_UseTheDomainSeparationPrefixes()
    {
        Assert.Equal(SHA256.HashData([0x00, 1, 2, 3]), MerkleTree.HashLeaf([1, 2, 3]));
        var left = new byte[32];
        var right = Enumerable.Repeat((byte)7, 32).ToArray();
        Assert.Equal(SHA256.HashData([0x01, .. left, .. right]), MerkleTree.HashChildren(left, right));
    }

    [Fact]
    public void RootHash_MatchesTheRecursiveDefinition_ForEverySize()
    {
        for (var n = 0; n <= Entries.Count; n++)
        {
            Assert.Equal(Rfc9162Verifier.RootOf(Entries.Take(n).ToList()), MerkleTree.RootHash(Leaves, 0, n));
        }
    }

    [Fact]
    public void InclusionProofs_VerifyIndependently_ForEveryLeafOfEverySize()
    {
        for (var n = 1; n <= Entries.Count; n++)
        {
            var root = MerkleTree.RootHash(Leaves, 0, n);
            for (var m = 0; m < n; m++)
            {
                var proof = MerkleTree.InclusionProof(Leaves, m, n);
                Assert.True(Rfc9162Verifier.VerifyInclusion(m, n, Leaves[m], proof, root), $"leaf {m} of {n}");
                Assert.True(MerkleTree.VerifyInclusion(Leaves[m], m, n, proof, root), $"production verifier, leaf {m} of {n}");
            }
        }
    }

    [Fact]
    public void InclusionProof_FailsForAnotherLeafOrATamperedPath()
    {
        var root = MerkleTree.RootHash(Leaves, 0, 21);
        var proof = MerkleTree.InclusionProof(Leaves, 5, 21).Select(p => (byte[])p.Clone()).ToList();

        Assert.False(Rfc9162Verifier.VerifyInclusion(5, 21, Leaves[6], proof, root));
        Assert.False(MerkleTree.VerifyInclusion(Leaves[6], 5, 21, proof, root));
        Assert.False(MerkleTree.VerifyInclusion(Leaves[5], 4, 21, proof, root));
        Assert.False(MerkleTree.VerifyInclusion(Leaves[5], 5, 21, proof.Take(proof.Count - 1).ToList(), root));
        proof[1][0] ^= 1;
        Assert.False(Rfc9162Verifier.VerifyInclusion(5, 21, Leaves[5], proof, root));
        Assert.False(MerkleTree.VerifyInclusion(Leaves[5], 5, 21, proof, root));
    }

    [Fact]
    public void ConsistencyProofs_VerifyIndependently_ForEveryPairOfSizes()
    {
        for (var n = 1; n <= Entries.Count; n++)
        {
            var second = MerkleTree.RootHash(Leaves, 0, n);
            for (var m = 1; m <= n; m++)
            {
                var first = MerkleTree.RootHash(Leaves, 0, m);
                var proof = MerkleTree.ConsistencyProof(Leaves, m, n);
                if (m == n)
                {
                    Assert.Empty(proof); // RFC 9162: the proof between equal sizes is empty
                    continue;
                }

                Assert.True(Rfc9162Verifier.VerifyConsistency(m, n, first, second, proof), $"{m} -> {n}");
            }
        }
    }

    [Fact]
    public void ConsistencyProof_FailsAgainstARewrittenHistory()
    {
        var rewritten = Leaves.ToList();
        rewritten[2] = MerkleTree.HashLeaf("rewritten"u8);
        var first = MerkleTree.RootHash(Leaves, 0, 7);
        var proof = MerkleTree.ConsistencyProof(rewritten, 7, 20);

        Assert.False(Rfc9162Verifier.VerifyConsistency(7, 20, first, MerkleTree.RootHash(rewritten, 0, 20), proof));
    }
}
