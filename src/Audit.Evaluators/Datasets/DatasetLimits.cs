namespace Audit.Evaluators.Datasets;

/// <summary>Bounds applied while reading a dataset artifact; anything beyond them is rejected, not allocated.</summary>
/// <param name="MaxHeaderBytes">Largest JSON header accepted (the safetensors format itself caps it at 100 MB).</param>
/// <param name="MaxElements">Largest element count of one tensor.</param>
/// <param name="MaxRank">Largest number of dimensions of one tensor.</param>
/// <param name="MaxSamples">Largest first dimension (number of samples).</param>
public sealed record DatasetLimits(int MaxHeaderBytes, long MaxElements, int MaxRank, long MaxSamples)
{
    /// <summary>1 MiB header, 64 Mi elements (256 MiB of float32), rank 8, one million samples.</summary>
    public static DatasetLimits Default { get; } = new(1 << 20, 64L << 20, 8, 1_000_000);
}
