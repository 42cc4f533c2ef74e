using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Minimal PNG writer (8-bit grayscale or RGB, no filtering) for evidence images such as trigger masks.</summary>
internal static class PngEncoder
{
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Encodes row-major pixels; <paramref name="channels"/> is 1 (gray) or 3 (RGB), values already 0..255.</summary>
    public static byte[] Encode(byte[] pixels, int width, int height, int channels)
    {
        if (channels is not (1 or 3) || pixels.Length != width * height * channels)
        {
            throw new ArgumentException("Pixels must be width × height × (1 or 3) bytes.", nameof(pixels));
        }

        using var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);

        byte[] header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8;
        header[9] = channels == 1 ? (byte)0 : (byte)2;
        WriteChunk(output, "IHDR", header);

        using var raw = new MemoryStream();
        using (var zlib = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            int stride = width * channels;
            for (int y = 0; y < height; y++)
            {
                zlib.WriteByte(0); // filter type: none
                zlib.Write(pixels, y * stride, stride);
            }
        }

        WriteChunk(output, "IDAT", raw.ToArray());
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    /// <summary>Scales values from [<paramref name="low"/>, <paramref name="high"/>] to bytes.</summary>
    public static byte[] ToBytes(ReadOnlySpan<float> values, float low, float high)
    {
        byte[] result = new byte[values.Length];
        float range = Math.Max(high - low, 1e-12f);
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = (byte)Math.Clamp(MathF.Round((values[i] - low) / range * 255f), 0f, 255f);
        }

        return result;
    }

    private static void WriteChunk(Stream output, string type, byte[] data)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(buffer, data.Length);
        output.Write(buffer);
        byte[] typeBytes = Encoding.ASCII.GetBytes(type);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc(typeBytes, 0xFFFFFFFFu);
        crc = Crc(data, crc) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(buffer, crc);
        output.Write(buffer);
    }

    private static uint Crc(byte[] data, uint crc)
    {
        foreach (byte b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }
}
