using System.Buffers.Binary;
using System.Text;
using Audit.Api.Tests.Infrastructure;
using Google.Protobuf;
using Onnx;

namespace Audit.Api.Tests.Hardening;

/// <summary>Builders for well-formed and deliberately broken uploads.</summary>
public static class HostileInputs
{
    /// <summary>A safetensors file from a header (JSON text, or raw bytes) and a data section.</summary>
    public static byte[] Safetensors(byte[] header, byte[] data)
    {
        byte[] file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    public static byte[] Safetensors(string header, byte[] data) => Safetensors(Encoding.UTF8.GetBytes(header), data);

    /// <summary>A valid dataset: inputs F32 [n, 2], labels I64 [n], with the given input values.</summary>
    public static byte[] Dataset(float[] inputs)
    {
        int n = inputs.Length / 2;
        byte[] data = new byte[(inputs.Length * 4) + (n * 8)];
        for (int i = 0; i < inputs.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), inputs[i]);
        }

        for (int i = 0; i < n; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan((inputs.Length * 4) + (i * 8)), i % 2);
        }

        string header = $$$"""{"inputs":{"dtype":"F32","shape":[{{{n}}},2],"data_offsets":[0,{{{inputs.Length * 4}}}]},"labels":{"dtype":"I64","shape":[{{{n}}}],"data_offsets":[{{{inputs.Length * 4}}},{{{data.Length}}}]}}""";
        return Safetensors(header, data);
    }

    public static ModelProto Conv2d() => ModelProto.Parser.ParseFrom(TestModels.Conv2d);

    public static byte[] Bytes(this ModelProto model) => model.ToByteArray();

    /// <summary>A multipart body with the given raw text, for hand-broken envelopes.</summary>
    public static HttpContent RawMultipart(string contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        return content;
    }

    /// <summary>Files under the store's incoming folder and ASP.NET's temporary uploads (both must be empty between requests).</summary>
    public static string[] Leftovers(string dataDirectory)
    {
        string incoming = Path.Combine(dataDirectory, "artifacts", "sha256", "incoming");
        return Directory.Exists(incoming) ? Directory.GetFiles(incoming, "*", SearchOption.AllDirectories) : [];
    }
}
