using System.Collections.Immutable;
using System.Runtime.InteropServices;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx;

/// <summary>Conversions between ONNX <c>TensorProto</c>s / element types and TorchSharp tensors.</summary>
public static class OnnxTensors
{
    /// <summary>ONNX <c>TensorProto.DataType</c> codes the importer knows by name (for messages).</summary>
    private static readonly ImmutableArray<string> TypeNames =
    [
        "UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16", "INT32", "INT64", "STRING", "BOOL", "FLOAT16",
        "DOUBLE", "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16",
    ];

    /// <summary>The ONNX type name for a data type code, e.g. <c>FLOAT</c>.</summary>
    public static string TypeName(int dataType) =>
        dataType >= 0 && dataType < TypeNames.Length ? TypeNames[dataType] : $"TYPE{dataType}";

    /// <summary>The TorchSharp element type for an ONNX data type, or null where libtorch has none we support.</summary>
    public static ScalarType? ToScalarType(int dataType) => dataType switch
    {
        1 => ScalarType.Float32,
        2 => ScalarType.Byte,
        3 => ScalarType.Int8,
        5 => ScalarType.Int16,
        6 => ScalarType.Int32,
        7 => ScalarType.Int64,
        9 => ScalarType.Bool,
        10 => ScalarType.Float16,
        11 => ScalarType.Float64,
        16 => ScalarType.BFloat16,
        _ => null,
    };

    /// <summary>The ONNX data type code for a TorchSharp element type.</summary>
    public static int ToDataType(ScalarType type) => type switch
    {
        ScalarType.Float32 => 1,
        ScalarType.Byte => 2,
        ScalarType.Int8 => 3,
        ScalarType.Int16 => 5,
        ScalarType.Int32 => 6,
        ScalarType.Int64 => 7,
        ScalarType.Bool => 9,
        ScalarType.Float16 => 10,
        ScalarType.Float64 => 11,
        ScalarType.BFloat16 => 16,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "No ONNX equivalent."),
    };

    internal static int ElementSize(ScalarType type) => type switch
    {
        ScalarType.Byte or ScalarType.Int8 or ScalarType.Bool => 1,
        ScalarType.Int16 or ScalarType.Float16 or ScalarType.BFloat16 => 2,
        ScalarType.Int32 or ScalarType.Float32 => 4,
        _ => 8,
    };

    /// <summary>Reads a serialized <c>TensorProto</c> (e.g. a conformance <c>input_0.pb</c>) onto a device.</summary>
    public static Tensor ReadTensorFile(string path, Device device)
    {
        TensorProto proto = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        return ToTensor(proto, device, OnnxImportLimits.Default);
    }

    /// <summary>
    /// Converts a tensor proto, checking rank, dimensions and element count first, and that the stored data
    /// has exactly as many elements as the dimensions say.
    /// </summary>
    /// <exception cref="ModelRejectedException">External data, bad sizes or inconsistent data.</exception>
    /// <exception cref="UnsupportedOperatorException">An element type libtorch cannot hold.</exception>
    public static Tensor ToTensor(TensorProto proto, Device device, OnnxImportLimits limits)
    {
        string name = string.IsNullOrEmpty(proto.Name) ? "(unnamed)" : proto.Name;
        if (proto.DataLocation == TensorProto.Types.DataLocation.External || proto.ExternalData.Count > 0)
        {
            throw new ModelRejectedException(ModelRejectionReason.ExternalData, $"Tensor '{name}' refers to external data; upload a self-contained model.");
        }

        long[] dims = [.. proto.Dims];
        long count = CheckShape(dims, limits, $"tensor '{name}'");
        ScalarType type = ToScalarType(proto.DataType)
            ?? throw new UnsupportedOperatorException([$"element type {TypeName(proto.DataType)} (tensor '{name}')"]);
        int size = ElementSize(type);
        byte[] bytes;
        if (!proto.RawData.IsEmpty)
        {
            bytes = proto.RawData.ToByteArray();
        }
        else
        {
            bytes = new byte[count * size];
            CopyTypedData(proto, type, bytes, count, name);
        }

        if (bytes.LongLength != count * size)
        {
            throw new ModelRejectedException(ModelRejectionReason.Malformed, $"Tensor '{name}' holds {bytes.LongLength} bytes but its shape needs {count * size}.");
        }

        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("ONNX raw data is little-endian.");
        }

        return FromBytes(bytes, type, dims, device);
    }

    /// <summary>Reinterprets little-endian element bytes as a tensor of the given type (a copy the tensor owns).</summary>
    private static Tensor FromBytes(byte[] bytes, ScalarType type, long[] dims, Device device)
    {
        ReadOnlySpan<byte> b = bytes;
        return type switch
        {
            ScalarType.Float32 => torch.tensor(MemoryMarshal.Cast<byte, float>(b).ToArray(), dims, type, device),
            ScalarType.Float64 => torch.tensor(MemoryMarshal.Cast<byte, double>(b).ToArray(), dims, type, device),
            ScalarType.Int64 => torch.tensor(MemoryMarshal.Cast<byte, long>(b).ToArray(), dims, type, device),
            ScalarType.Int32 => torch.tensor(MemoryMarshal.Cast<byte, int>(b).ToArray(), dims, type, device),
            ScalarType.Int16 => torch.tensor(MemoryMarshal.Cast<byte, short>(b).ToArray(), dims, type, device),
            ScalarType.Int8 => torch.tensor(MemoryMarshal.Cast<byte, sbyte>(b).ToArray(), dims, type, device),
            ScalarType.Byte => torch.tensor(bytes, dims, type, device),
            ScalarType.Bool => torch.tensor(bytes.Select(v => v != 0).ToArray(), dims, type, device),
            ScalarType.Float16 => torch.tensor(MemoryMarshal.Cast<byte, Half>(b).ToArray(), dims, type, device),
            ScalarType.BFloat16 => torch.tensor(MemoryMarshal.Cast<byte, BFloat16>(b).ToArray(), dims, type, device),
            _ => throw new UnsupportedOperatorException([$"element type {type}"]),
        };
    }

    /// <summary>Checks rank, dimensions and element count; returns the element count.</summary>
    internal static long CheckShape(IReadOnlyList<long> dims, OnnxImportLimits limits, string what)
    {
        if (dims.Count > limits.MaxRank)
        {
            throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The {what} has rank {dims.Count}; at most {limits.MaxRank} is accepted.");
        }

        long count = 1;
        foreach (long d in dims)
        {
            if (d < 0 || d > limits.MaxDimension)
            {
                throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The {what} has dimension {d}; dimensions must lie in 0..{limits.MaxDimension}.");
            }

            count *= d;
            if (count > limits.MaxTensorElements)
            {
                throw new ModelRejectedException(ModelRejectionReason.LimitExceeded, $"The {what} has more than {limits.MaxTensorElements} elements.");
            }
        }

        return count;
    }

    private static void CopyTypedData(TensorProto proto, ScalarType type, byte[] bytes, long count, string name)
    {
        void Check(int stored)
        {
            if (stored != count)
            {
                throw new ModelRejectedException(ModelRejectionReason.Malformed, $"Tensor '{name}' stores {stored} values but its shape needs {count}.");
            }
        }

        switch (type)
        {
            case ScalarType.Float32:
                Check(proto.FloatData.Count);
                MemoryMarshal.AsBytes(proto.FloatData.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case ScalarType.Float64:
                Check(proto.DoubleData.Count);
                MemoryMarshal.AsBytes(proto.DoubleData.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case ScalarType.Int64:
                Check(proto.Int64Data.Count);
                MemoryMarshal.AsBytes(proto.Int64Data.ToArray().AsSpan()).CopyTo(bytes);
                break;
            case ScalarType.Int32:
                Check(proto.Int32Data.Count);
                MemoryMarshal.AsBytes(proto.Int32Data.ToArray().AsSpan()).CopyTo(bytes);
                break;
            default:
                // Narrow types (bool, int8/16, uint8, float16 bit patterns) are stored one per int32.
                Check(proto.Int32Data.Count);
                int size = ElementSize(type);
                for (int i = 0; i < proto.Int32Data.Count; i++)
                {
                    int v = proto.Int32Data[i];
                    bytes[i * size] = (byte)v;
                    if (size == 2)
                    {
                        bytes[(i * size) + 1] = (byte)(v >> 8);
                    }
                }

                break;
        }
    }
}
