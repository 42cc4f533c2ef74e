using System.Security.Cryptography;
using Audit.Api.Features.Transparency;
using Audit.Cli.Verification;

namespace Audit.Cli.Tests;

/// <summary>The CLI's RFC 9162 checks against the proofs the service's own Merkle tree produces, and against forgeries.</summary>
public sealed class MerkleProofsTests
{
    private static List<byte[]> Leaves(int count) => [.. Enumerable.Range(0, count).Select(i => MerkleProofs.HashLeaf(BitConverter.GetBytes(i)))];

    [Fact]
    public void LeafAndNodeHashes_AreRfc9162s()
    {
        byte[] entry = [1, 2, 3];
        Assert.Equal(SHA256.HashData([0, 1, 2, 3]), MerkleProofs.HashLeaf(entry));
        Assert.Equal(MerkleTree.HashLeaf(entry), MerkleProofs.HashLeaf(entry));
        var (a, b) = (MerkleProofs.HashLeaf([1]), MerkleProofs.HashLeaf([2]));
        Assert.Equal(SHA256.HashData([0x01, .. a, .. b]), MerkleProofs.HashChildren(a, b));
    }

    [Fact]
    public void InclusionProofs_FromTheService_LeadToTheRoot_ForEveryLeafOfEverySizeUpTo33()
    {
        var leaves = Leaves(33);
        for (var size = 1; size <= leaves.Count; size++)
        {
            var root = MerkleTree.RootHash(leaves, 0, size);
            for (var index = 0; index < size; index++)
            {
                var path = MerkleTree.InclusionProof(leaves, index, size);
                Assert.Equal(root, MerkleProofs.RootFromInclusionProof(index, size, leaves[index], path));
                // Another leaf, index or size with the same path must not reach the same root.
                Assert.NotEqual(root, MerkleProofs.RootFromInclusionProof(index, size, MerkleProofs.HashLeaf([0xFF, 0xFE]), path) ?? []);
                if (size > 1)
                {
                    Assert.NotEqual(root, MerkleProofs.RootFromInclusionProof((index + 1) % size, size, leaves[index], path) ?? []);
                }
            }
        }
    }

    [Fact]
    public void ConsistencyProofs_FromTheService_Verify_ForEveryPairOfSizesUpTo33()
    {
        var leaves = Leaves(33);
        for (var second = 1; second <= leaves.Count; second++)
        {
            var secondRoot = MerkleTree.RootHash(leaves, 0, second);
            for (var first = 1; first <= second; first++)
            {
                var firstRoot = MerkleTree.RootHash(leaves, 0, first);
                var proof = MerkleTree.ConsistencyProof(leaves, first, second);
                Assert.True(MerkleProofs.VerifyConsistency(first, second, firstRoot, secondRoot, proof), $"{first} -> {second}");
                if (first < second)
                {
                    var forged = MerkleTree.RootHash(Leaves(first).Select(l => MerkleProofs.HashLeaf(l)).ToList(), 0, first);
                    Assert.False(MerkleProofs.VerifyConsistency(first, second, forged, secondRoot, proof), $"forged {first} -> {second}");
                }
            }
        }
    }

    [Fact]
    public void AConsistencyProof_ForARewrittenHistory_DoesNotVerify()
    {
        var honest = Leaves(12);
        var rewritten = Leaves(12);
        rewritten[3] = MerkleProofs.HashLeaf([9, 9, 9]);
        var oldRoot = MerkleTree.RootHash(honest, 0, 7);
        var proof = MerkleTree.ConsistencyProof(rewritten, 7, 12);
        Assert.False(MerkleProofs.VerifyConsistency(7, 12, oldRoot, MerkleTree.RootHash(rewritten, 0, 12), proof));
    }
}
