using System.Buffers.Binary;
using System.IO.Compression;

namespace Audit.ModelZoo;

/// <summary>
/// Fashion-MNIST as Debian's dataset-fashion-mnist package installs it: gzip'd IDX files (big-endian header: magic,
/// then one int32 per dimension, then unsigned bytes). Pixels come back in [0, 1], row-major <c>[N, 1, 28, 28]</c>.
/// </summary>
internal sealed class FashionMnistImages
{
    public const string DefaultFolder = "/usr/share/datasets/fashion-mnist";

    /// <summary>Mean and deviation of the training pixels in [0, 1], for standardised inputs.</summary>
    public const float Mean = 0.2860f;

    public const float Deviation = 0.3530f;

    private FashionMnistImages(float[] pixels, long[] labels)
    {
        Pixels = pixels;
        Labels = labels;
    }

    public float[] Pixels { get; }

    public long[] Labels { get; }

    public int Count => Labels.Length;

    public static bool Available(string folder = DefaultFolder) => File.Exists(Path.Combine(folder, "train-images-idx3-ubyte.gz"));

    /// <summary>Reads the training (<c>train</c>) or test (<c>t10k</c>) part.</summary>
    public static FashionMnistImages Read(string part, string folder = DefaultFolder)
    {
        (byte[] images, int[] imageShape) = ReadIdx(Path.Combine(folder, $"{part}-images-idx3-ubyte.gz"));
        (byte[] labels, int[] labelShape) = ReadIdx(Path.Combine(folder, $"{part}-labels-idx1-ubyte.gz"));
        if (imageShape.Length != 3 || labelShape.Length != 1 || imageShape[0] != labelShape[0] || imageShape[1] != 28 || imageShape[2] != 28)
        {
            throw new InvalidDataException($"Fashion-MNIST '{part}' in {folder} does not have the expected shapes.");
        }

        var pixels = new float[images.Length];
        for (int i = 0; i < pixels.Length; i++)
        {
            pixels[i] = images[i] * (1f / 255f);
        }

        var classes = new long[labels.Length];
        for (int i = 0; i < classes.Length; i++)
        {
            classes[i] = labels[i];
        }

        return new FashionMnistImages(pixels, classes);
    }

    private static (byte[] Data, int[] Shape) ReadIdx(string path)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(File.OpenRead(path), CompressionMode.Decompress))
        {
            gzip.CopyTo(buffer);
        }

        ReadOnlySpan<byte> bytes = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);

        // IDX magic: two zero bytes, the element type (0x08 = unsigned byte), the rank.
        if (bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
        {
            throw new InvalidDataException($"{path} is not an unsigned-byte IDX file.");
        }

        int rank = bytes[3];
        var shape = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            shape[d] = BinaryPrimitives.ReadInt32BigEndian(bytes[(4 + 4 * d)..]);
        }

        return (bytes[(4 + 4 * rank)..].ToArray(), shape);
    }
}
