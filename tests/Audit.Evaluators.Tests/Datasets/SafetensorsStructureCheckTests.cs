using System.Buffers.Binary;
using System.Text;
using Audit.Evaluators.Datasets;

namespace Audit.Evaluators.Tests.Datasets;

public sealed class SafetensorsStructureCheckTests
{
    private static MemoryStream File(string header, byte[] data)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var stream = new MemoryStream();
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)h.Length);
        stream.Write(length);
        stream.Write(h);
        stream.Write(data);
        stream.Position = 0;
        return stream;
    }

    private static byte[] Floats(params float[] values)
    {
        byte[] bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }

    [Fact]
    public void TiledFiniteTensors_Pass()
    {
        byte[] data = [.. Floats(1, 2), .. new byte[8]];
        SafetensorsStructureCheck.Check(File("""{"__metadata__":{"a":"b"},"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}""", data));
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "twice")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8, "overlaps")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", 12, "gap")]
    [InlineData("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", 8, "belong to none")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "need")]
    [InlineData("""{"a":{"dtype":"X9","shape":[2],"data_offsets":[0,8]}}""", 8, "unknown dtype")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "non-negative")]
    [InlineData("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8, "file holds")]
    [InlineData("""[1]""", 8, "JSON object")]
    public void BrokenStructure_IsRejected(string header, int dataBytes, string because)
    {
        DatasetRejectedException rejected = Assert.Throws<DatasetRejectedException>(() => SafetensorsStructureCheck.Check(File(header, new byte[dataBytes])));

        Assert.Contains(because, rejected.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteFloats_AreRejected(float value)
    {
        DatasetRejectedException rejected = Assert.Throws<DatasetRejectedException>(() =>
            SafetensorsStructureCheck.Check(File("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}}""", Floats(1, value, 2))));

        Assert.Contains("element 1", rejected.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidUtf8Header_IsRejected()
    {
        var stream = new MemoryStream();
        stream.Write([4, 0, 0, 0, 0, 0, 0, 0, (byte)'{', 0xC3, 0x28, (byte)'}']);
        stream.Position = 0;

        DatasetRejectedException rejected = Assert.Throws<DatasetRejectedException>(() => SafetensorsStructureCheck.Check(stream));

        Assert.Contains("UTF-8", rejected.Message, StringComparison.Ordinal);
    }
}
