using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace Audit.Evaluators.Datasets;

/// <summary>
/// Reads and writes dataset artifacts in the safetensors format (8-byte little-endian header length, a JSON
/// header naming each tensor's dtype, shape and byte range, then raw little-endian data). Only the tensors
/// <c>inputs</c> (F32) and <c>labels</c> (I64) are used; others are ignored. Every size is checked before anything
/// is allocated, so a hostile header cannot make the service allocate or read past the file.
/// </summary>
public static class SafetensorsDataset
{
    /// <summary>Reads a dataset from a file.</summary>
    /// <exception cref="DatasetRejectedException">The file is malformed, too large, or has the wrong dtypes or shapes.</exception>
    public static DatasetArtifact Read(string path, DatasetLimits? limits = null)
    {
        using FileStream stream = File.OpenRead(path);
        return Read(stream, limits);
    }

    /// <summary>
    /// Whether <paramref name="stream"/> starts like a safetensors file: an 8-byte little-endian length that fits in the
    /// stream, followed by a JSON object. Format detection only (no limits applied); the stream is rewound.
    /// </summary>
    public static bool LooksLikeSafetensors(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        long start = stream.Position;
        try
        {
            Span<byte> prefix = stackalloc byte[9];
            if (stream.ReadAtLeast(prefix, 9, throwOnEndOfStream: false) < 9)
            {
                return false;
            }

            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            return headerLength >= 2 && headerLength <= (ulong)(stream.Length - start - 8) && prefix[8] == (byte)'{';
        }
        finally
        {
            stream.Position = start;
        }
    }

    /// <summary>
    /// Reads and checks the header only: every tensor's dtype, shape and byte range, within <paramref name="limits"/>
    /// and inside the stream. The one header parser of the service (uploads describe datasets with it too).
    /// </summary>
    /// <exception cref="DatasetRejectedException">The header is malformed, too large, or points outside the data.</exception>
    public static SafetensorsHeader ReadHeader(Stream stream, DatasetLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= DatasetLimits.Default;
        Span<byte> prefix = stackalloc byte[8];
        ReadExactly(stream, prefix, "header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (headerLength == 0 || headerLength > (ulong)limits.MaxHeaderBytes)
        {
            throw new DatasetRejectedException($"The safetensors header is {headerLength} bytes; at most {limits.MaxHeaderBytes} are accepted.");
        }

        byte[] header = new byte[headerLength];
        ReadExactly(stream, header, "header");
        long dataStart = 8 + (long)headerLength;
        long dataLength = stream.CanSeek ? stream.Length - dataStart : long.MaxValue;
        return new SafetensorsHeader(ParseHeader(header, limits, dataLength), dataStart, dataLength);
    }

    /// <summary>Reads a dataset from a seekable stream.</summary>
    /// <exception cref="DatasetRejectedException">The stream is malformed, too large, or has the wrong dtypes or shapes.</exception>
    public static DatasetArtifact Read(Stream stream, DatasetLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        limits ??= DatasetLimits.Default;
        SafetensorsHeader parsed = ReadHeader(stream, limits);
        long dataStart = parsed.DataStart;
        IReadOnlyDictionary<string, SafetensorsTensor> entries = parsed.Tensors;
        if (!entries.TryGetValue("inputs", out SafetensorsTensor? inputsEntry))
        {
            throw new DatasetRejectedException("The dataset has no 'inputs' tensor.");
        }

        if (inputsEntry.DType != "F32")
        {
            throw new DatasetRejectedException($"'inputs' must be F32 (float32); got {inputsEntry.DType}.");
        }

        if (inputsEntry.Shape.Count < 2)
        {
            throw new DatasetRejectedException($"'inputs' must have shape [N, ...]; got rank {inputsEntry.Shape.Count}.");
        }

        if (inputsEntry.Shape[0] > limits.MaxSamples)
        {
            throw new DatasetRejectedException($"'inputs' has {inputsEntry.Shape[0]} samples; at most {limits.MaxSamples} are accepted.");
        }

        float[] inputs = ReadArray<float>(stream, dataStart, inputsEntry);
        long[]? labels = null;
        if (entries.TryGetValue("labels", out SafetensorsTensor? labelsEntry))
        {
            if (labelsEntry.DType != "I64")
            {
                throw new DatasetRejectedException($"'labels' must be I64 (int64); got {labelsEntry.DType}.");
            }

            if (labelsEntry.Shape.Count != 1)
            {
                throw new DatasetRejectedException($"'labels' must have shape [N]; got rank {labelsEntry.Shape.Count}.");
            }

            labels = ReadArray<long>(stream, dataStart, labelsEntry);
        }

        return new DatasetArtifact(inputs, [.. inputsEntry.Shape], labels);
    }

    /// <summary>Writes <paramref name="dataset"/> as safetensors (used by fixtures, tests and clients).</summary>
    public static void Write(Stream stream, DatasetArtifact dataset)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(dataset);
        byte[] inputBytes = MemoryMarshal.AsBytes(dataset.Inputs.AsSpan()).ToArray();
        byte[]? labelBytes = dataset.Labels is null ? null : MemoryMarshal.AsBytes(dataset.Labels.AsSpan()).ToArray();

        using var json = new MemoryStream();
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            WriteEntry(writer, "inputs", "F32", dataset.InputShape, 0, inputBytes.Length);
            if (labelBytes is not null)
            {
                WriteEntry(writer, "labels", "I64", [dataset.Labels!.Length], inputBytes.Length, inputBytes.Length + labelBytes.Length);
            }

            writer.WriteEndObject();
        }

        // The format pads the header with spaces to 8-byte alignment so tensors stay aligned.
        int padded = (int)((json.Length + 7) / 8 * 8);
        byte[] header = new byte[padded];
        Array.Fill(header, (byte)' ');
        json.ToArray().CopyTo(header, 0);

        Span<byte> prefix = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded);
        stream.Write(prefix);
        stream.Write(header);
        stream.Write(inputBytes);
        if (labelBytes is not null)
        {
            stream.Write(labelBytes);
        }
    }

    /// <summary>Writes <paramref name="dataset"/> to a file.</summary>
    public static void Write(string path, DatasetArtifact dataset)
    {
        using FileStream stream = File.Create(path);
        Write(stream, dataset);
    }

    private static void WriteEntry(Utf8JsonWriter writer, string name, string dtype, IReadOnlyList<long> shape, long begin, long end)
    {
        writer.WriteStartObject(name);
        writer.WriteString("dtype", dtype);
        writer.WriteStartArray("shape");
        foreach (long d in shape)
        {
            writer.WriteNumberValue(d);
        }

        writer.WriteEndArray();
        writer.WriteStartArray("data_offsets");
        writer.WriteNumberValue(begin);
        writer.WriteNumberValue(end);
        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static Dictionary<string, SafetensorsTensor> ParseHeader(byte[] header, DatasetLimits limits, long dataLength)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException ex)
        {
            throw new DatasetRejectedException("The safetensors header is not valid JSON.", ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new DatasetRejectedException("The safetensors header must be a JSON object.");
            }

            var entries = new Dictionary<string, SafetensorsTensor>(StringComparer.Ordinal);
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    continue;
                }

                entries[property.Name] = ParseEntry(property, limits, dataLength);
            }

            return entries;
        }
    }

    private static SafetensorsTensor ParseEntry(JsonProperty property, DatasetLimits limits, long dataLength)
    {
        try
        {
            JsonElement value = property.Value;
            string dtype = value.GetProperty("dtype").GetString() ?? "";
            JsonElement shapeElement = value.GetProperty("shape");
            if (shapeElement.GetArrayLength() > limits.MaxRank)
            {
                throw new DatasetRejectedException($"Tensor '{property.Name}' has rank {shapeElement.GetArrayLength()}; at most {limits.MaxRank} is accepted.");
            }

            long[] shape = shapeElement.EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (shape.Any(d => d < 0))
            {
                throw new DatasetRejectedException($"Tensor '{property.Name}' has a negative dimension.");
            }

            long elements = 1;
            foreach (long d in shape)
            {
                elements = d == 0 ? 0 : elements > limits.MaxElements / d ? long.MaxValue : elements * d;
            }

            if (elements > limits.MaxElements)
            {
                throw new DatasetRejectedException($"Tensor '{property.Name}' has more than {limits.MaxElements} elements.");
            }

            long[] offsets = value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
            if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength)
            {
                throw new DatasetRejectedException($"Tensor '{property.Name}' has data offsets outside the file.");
            }

            int elementSize = dtype switch { "F32" or "I32" => 4, "F64" or "I64" => 8, "F16" or "BF16" or "I16" => 2, "U8" or "I8" or "BOOL" => 1, _ => 0 };
            if (elementSize != 0 && offsets[1] - offsets[0] != elements * elementSize)
            {
                throw new DatasetRejectedException($"Tensor '{property.Name}' has {offsets[1] - offsets[0]} bytes of data but its shape and dtype need {elements * elementSize}.");
            }

            return new SafetensorsTensor(dtype, shape, offsets[0], offsets[1]);
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new DatasetRejectedException($"Tensor '{property.Name}' has a malformed header entry.", ex);
        }
    }

    private static T[] ReadArray<T>(Stream stream, long dataStart, SafetensorsTensor entry)
        where T : unmanaged
    {
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("safetensors data is little-endian; big-endian hosts are not supported.");
        }

        var result = new T[(entry.End - entry.Begin) / Marshal.SizeOf<T>()];
        stream.Seek(dataStart + entry.Begin, SeekOrigin.Begin);
        ReadExactly(stream, MemoryMarshal.AsBytes(result.AsSpan()), "tensor data");
        return result;
    }

    private static void ReadExactly(Stream stream, Span<byte> buffer, string what)
    {
        try
        {
            stream.ReadExactly(buffer);
        }
        catch (EndOfStreamException ex)
        {
            throw new DatasetRejectedException($"The dataset file ends inside its {what}.", ex);
        }
    }
}

/// <summary>One tensor named in a safetensors header.</summary>
/// <param name="DType">safetensors dtype name (F32, I64, ...).</param>
/// <param name="Shape">Dimensions.</param>
/// <param name="Begin">First byte of its data, relative to the data section.</param>
/// <param name="End">One past its last byte.</param>
public sealed record SafetensorsTensor(string DType, IReadOnlyList<long> Shape, long Begin, long End);

/// <summary>A checked safetensors header.</summary>
/// <param name="Tensors">Tensors by name (<c>__metadata__</c> excluded).</param>
/// <param name="DataStart">Offset of the data section in the file.</param>
/// <param name="DataBytes">Length of the data section.</param>
public sealed record SafetensorsHeader(IReadOnlyDictionary<string, SafetensorsTensor> Tensors, long DataStart, long DataBytes);
