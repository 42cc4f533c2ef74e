using System.Buffers.Binary;
using System.Text;
using Audit.Evaluators.Datasets;

namespace Audit.Evaluators.Tests.Datasets;

public sealed class SafetensorsDatasetTests
{
    [Fact]
    public void WrittenDataset_ReadsBack_WithInputsLabelsAndBounds()
    {
        var dataset = new DatasetArtifact([0f, 0.5f, -2f, 3f, 1f, 255f], [3, 1, 2], [2L, 0L, 9L]);
        using var stream = new MemoryStream();
        SafetensorsDataset.Write(stream, dataset);
        stream.Position = 0;

        DatasetArtifact read = SafetensorsDataset.Read(stream);

        Assert.Equal(dataset.Inputs, read.Inputs);
        Assert.Equal(new long[] { 3, 1, 2 }, read.InputShape);
        Assert.Equal(new long[] { 2, 0, 9 }, read.Labels);
        Assert.Equal((-2f, 255f), read.Bounds());
        Assert.Equal(0, (BinaryPrimitives.ReadInt64LittleEndian(stream.ToArray()) % 8));
    }

    [Fact]
    public void DatasetWithoutLabels_ReadsWithNullLabels()
    {
        using var stream = Frame("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"__metadata__":{"a":"b"}}""", new byte[8]);

        DatasetArtifact read = SafetensorsDataset.Read(stream);

        Assert.Null(read.Labels);
        Assert.Equal(1, read.Count);
    }

    [Theory]
    [InlineData("""{"inputs":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]}}""", 8, "F32")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 8, "[N, ...]")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"labels":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}""", 12, "I64")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}""", 24, "samples")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,4096]}}""", 8, "outside the file")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[1,4],"data_offsets":[0,8]}}""", 8, "need 16")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":[100000,100000,100000],"data_offsets":[0,8]}}""", 8, "elements")]
    [InlineData("""{"labels":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}""", 8, "no 'inputs'")]
    [InlineData("""{"inputs":{"dtype":"F32","shape":"oops","data_offsets":[0,8]}}""", 8, "malformed")]
    [InlineData("""[1,2,3]""", 0, "JSON object")]
    [InlineData("""{not json""", 0, "not valid JSON")]
    public void MalformedOrMisfittingDataset_IsRejected_WithAReason(string header, int dataBytes, string reason)
    {
        using var stream = Frame(header, new byte[dataBytes]);

        var ex = Assert.Throws<DatasetRejectedException>(() => SafetensorsDataset.Read(stream));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HugeHeaderLength_IsRejected_BeforeAllocating()
    {
        byte[] bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, ulong.MaxValue / 2);

        var ex = Assert.Throws<DatasetRejectedException>(() => SafetensorsDataset.Read(new MemoryStream(bytes)));

        Assert.Contains("header", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedFile_IsRejected()
    {
        var ex = Assert.Throws<DatasetRejectedException>(() => SafetensorsDataset.Read(new MemoryStream([1, 2, 3])));

        Assert.Contains("ends inside", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadHeader_ListsEveryTensor_WithoutItsData_AndSkipsMetadata()
    {
        using var stream = Frame("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"mask":{"dtype":"U8","shape":[3],"data_offsets":[8,11]},"__metadata__":{"a":"b"}}""", new byte[11]);

        SafetensorsHeader header = SafetensorsDataset.ReadHeader(stream);

        Assert.Equal(["inputs", "mask"], header.Tensors.Keys.Order());
        Assert.Equal("U8", header.Tensors["mask"].DType);
        Assert.Equal([1L, 2L], header.Tensors["inputs"].Shape);
        Assert.Equal((8L, 11L), (header.Tensors["mask"].Begin, header.Tensors["mask"].End));
        Assert.Equal(11, header.DataBytes);
    }

    [Fact]
    public void ReadHeader_AppliesTheSameHeaderLimitAsRead()
    {
        string padding = new(' ', DatasetLimits.Default.MaxHeaderBytes);
        using var stream = Frame("{" + padding + "}", []);

        var ex = Assert.Throws<DatasetRejectedException>(() => SafetensorsDataset.ReadHeader(stream));

        Assert.Contains($"at most {DatasetLimits.Default.MaxHeaderBytes}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LooksLikeSafetensors_RecognisesTheFraming_AndRewinds()
    {
        using MemoryStream framed = Frame("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}""", new byte[8]);
        using var jsonLines = new MemoryStream(Encoding.UTF8.GetBytes("{\"role\":\"prompt\",\"tokens\":[1,2]}\n"));
        using var tiny = new MemoryStream([1, 2, 3]);

        Assert.True(SafetensorsDataset.LooksLikeSafetensors(framed));
        Assert.Equal(0, framed.Position);
        Assert.False(SafetensorsDataset.LooksLikeSafetensors(jsonLines));
        Assert.Equal(0, jsonLines.Position);
        Assert.False(SafetensorsDataset.LooksLikeSafetensors(tiny));
    }

    internal static MemoryStream Frame(string headerJson, byte[] data)
    {
        byte[] header = Encoding.UTF8.GetBytes(headerJson);
        byte[] result = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
        header.CopyTo(result, 8);
        data.CopyTo(result, 8 + header.Length);
        return new MemoryStream(result);
    }
}
