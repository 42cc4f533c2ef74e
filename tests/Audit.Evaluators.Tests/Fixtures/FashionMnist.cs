using System.Buffers.Binary;
using System.IO.Compression;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>Fashion-MNIST from Debian's dataset-fashion-mnist package (IDX files, gzip), pixels scaled to [0, 1].</summary>
internal sealed class FashionMnist
{
    public const string Folder = "/usr/share/datasets/fashion-mnist";

    private static readonly Lazy<FashionMnist> TrainSet = new(() => Load("train"));
    private static readonly Lazy<FashionMnist> TestSet = new(() => Load("t10k"));

    private FashionMnist(float[] images, long[] labels)
    {
        Images = images;
        Labels = labels;
    }

    public static FashionMnist Train => TrainSet.Value;

    public static FashionMnist Test => TestSet.Value;

    /// <summary>Row-major <c>[N, 1, 28, 28]</c>.</summary>
    public float[] Images { get; }

    public long[] Labels { get; }

    public int Count => Labels.Length;

    public static bool Available => File.Exists(Path.Combine(Folder, "train-images-idx3-ubyte.gz"));

    private static FashionMnist Load(string prefix)
    {
        byte[] imageBytes = ReadIdx(Path.Combine(Folder, $"{prefix}-images-idx3-ubyte.gz"), 0x803, out int[] imageDims);
        byte[] labelBytes = ReadIdx(Path.Combine(Folder, $"{prefix}-labels-idx1-ubyte.gz"), 0x801, out int[] labelDims);
        if (imageDims[0] != labelDims[0] || imageDims[1] != 28 || imageDims[2] != 28)
        {
            throw new InvalidDataException($"Unexpected Fashion-MNIST shapes in {prefix}.");
        }

        float[] images = new float[imageBytes.Length];
        for (int i = 0; i < images.Length; i++)
        {
            images[i] = imageBytes[i] / 255f;
        }

        return new FashionMnist(images, labelBytes.Select(b => (long)b).ToArray());
    }

    private static byte[] ReadIdx(string path, int magic, out int[] dims)
    {
        using var file = File.OpenRead(path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var memory = new MemoryStream();
        gzip.CopyTo(memory);
        byte[] all = memory.ToArray();
        if (BinaryPrimitives.ReadInt32BigEndian(all) != magic)
        {
            throw new InvalidDataException($"{path} is not an IDX file of the expected kind.");
        }

        int rank = magic & 0xFF;
        dims = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(all.AsSpan(4 + 4 * i));
        }

        return all.AsSpan(4 + 4 * rank).ToArray();
    }
}
