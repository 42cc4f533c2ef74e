using System.Globalization;
using System.Net;
using System.Text;
using Audit.Api.Tests.Infrastructure;
using Google.Protobuf;
using Onnx;

namespace Audit.Api.Tests.Hardening;

/// <summary>
/// Seeded fuzzing through the whole HTTP pipeline: thousands of malformed ONNX, safetensors, JSON Lines, JSON and
/// YAML profiles, multipart envelopes and audit bodies. Whatever arrives, the answer is not a 5xx, the service
/// still answers, nothing is left in the incoming folder and managed memory stays bounded. The seed is printed on
/// failure; <c>AUDIT_FUZZ_SEED</c> replays one, <c>AUDIT_FUZZ_CASES</c> runs more (the soak in docs/operations.md).
/// </summary>
[Collection(AloneCollection.Name)]
public sealed class FuzzTests : IDisposable
{
    private const int DefaultCases = 2100;

    private readonly AuditApiFactory _factory = new(worker: false, maxUploadBytes: 4 * 1024 * 1024);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task MalformedInputs_NeverCrashOrLeak()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("AUDIT_FUZZ_SEED"), CultureInfo.InvariantCulture, out int s) ? s : 20251130;
        int cases = int.TryParse(Environment.GetEnvironmentVariable("AUDIT_FUZZ_CASES"), CultureInfo.InvariantCulture, out int c) ? c : DefaultCases;
        var random = new Random(seed);
        var fuzz = new Fuzzer(random, TestModels.Conv2d);
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/profiles")).StatusCode);
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var statuses = new Dictionary<int, int>();

        for (int i = 0; i < cases; i++)
        {
            (string kind, HttpRequestMessage request) = fuzz.Next(i);
            using (request)
            {
                HttpResponseMessage response = await client.SendAsync(request);
                int status = (int)response.StatusCode;
                statuses[status] = statuses.GetValueOrDefault(status) + 1;
                if (status >= 500)
                {
                    string body = await response.Content.ReadAsStringAsync();
                    Assert.Fail($"seed {seed}, case {i} ({kind}): {status} {body}");
                }
            }

            string[] leftovers = HostileInputs.Leftovers(_factory.DataDirectory);
            Assert.True(leftovers.Length == 0, $"seed {seed}, case {i} ({kind}) left {string.Join(", ", leftovers)}");
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/v1/profiles")).StatusCode);
        long growth = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(growth < 128L * 1024 * 1024, $"managed memory grew by {growth} bytes over {cases} cases");
        // The fuzzer must reach the parsers, not just the front door: most answers are 400/422, some are accepted.
        Assert.True(statuses.GetValueOrDefault(422) > cases / 10, string.Join(", ", statuses.Select(kv => $"{kv.Key}: {kv.Value}")));
        Assert.True(statuses.GetValueOrDefault(400) > cases / 10, string.Join(", ", statuses.Select(kv => $"{kv.Key}: {kv.Value}")));
    }

    /// <summary>Makes one malformed request per call, cycling over the input kinds.</summary>
    private sealed class Fuzzer(Random random, byte[] model)
    {
        private static readonly string[] Kinds = ["onnx-bytes", "onnx-proto", "safetensors", "jsonl", "json-profile", "yaml-profile", "multipart", "audit"];

        public (string Kind, HttpRequestMessage Request) Next(int index)
        {
            string kind = Kinds[index % Kinds.Length];
            HttpRequestMessage request = kind switch
            {
                "onnx-bytes" => Upload(MutateBytes(model), "model"),
                "onnx-proto" => Upload(MutateProto(), "model"),
                "safetensors" => Upload(Safetensors(), "dataset"),
                "jsonl" => Upload(Encoding.UTF8.GetBytes(JsonLines()), "dataset"),
                "json-profile" => Post("/api/v1/profiles", Json(0), "application/json"),
                "yaml-profile" => Post("/api/v1/profiles", Yaml(), "application/yaml"),
                "multipart" => Multipart(),
                _ => Post("/api/v1/audits", Audit(), "application/json"),
            };
            return (kind, request);
        }

        private static HttpRequestMessage Post(string path, string body, string contentType) =>
            new(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, contentType) };

        private HttpRequestMessage Upload(byte[] bytes, string kind)
        {
            var form = new MultipartFormDataContent();
            form.Add(new ByteArrayContent(bytes), "file", "f.bin");
            form.Add(new StringContent(random.Next(10) == 0 ? Pick("weights", "", "MODEL", "dataset") : kind), "kind");
            return new HttpRequestMessage(HttpMethod.Post, "/api/v1/artifacts") { Content = form };
        }

        private string Pick(params string[] options) => options[random.Next(options.Length)];

        private byte[] MutateBytes(byte[] source)
        {
            byte[] bytes = (byte[])source.Clone();
            switch (random.Next(4))
            {
                case 0:
                    for (int i = 0, n = random.Next(1, 16); i < n; i++)
                    {
                        bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                    }

                    return bytes;
                case 1:
                    return bytes[..random.Next(bytes.Length)];
                case 2:
                    byte[] noise = new byte[random.Next(1, 64)];
                    random.NextBytes(noise);
                    int at = random.Next(bytes.Length);
                    return [.. bytes[..at], .. noise, .. bytes[at..]];
                default:
                    byte[] garbage = new byte[random.Next(0, 512)];
                    random.NextBytes(garbage);
                    return garbage;
            }
        }

        private byte[] MutateProto()
        {
            ModelProto proto = ModelProto.Parser.ParseFrom(model);
            GraphProto graph = proto.Graph;
            string[] names = [.. graph.Input.Select(v => v.Name), .. graph.Initializer.Select(t => t.Name), .. graph.Node.SelectMany(n => n.Output), "ghost", ""];
            for (int m = 0, n = random.Next(1, 4); m < n; m++)
            {
                switch (random.Next(9))
                {
                    case 0 when graph.Initializer.Count > 0:
                        TensorProto t = graph.Initializer[random.Next(graph.Initializer.Count)];
                        t.DataType = Pick("1", "7", "8", "0", "99", "-1", "16", "21") is var d ? int.Parse(d, CultureInfo.InvariantCulture) : 1;
                        break;
                    case 1 when graph.Initializer.Count > 0:
                        TensorProto r = graph.Initializer[random.Next(graph.Initializer.Count)];
                        byte[] raw = new byte[random.Next(0, 64)];
                        random.NextBytes(raw);
                        r.RawData = ByteString.CopyFrom(raw);
                        break;
                    case 2 when graph.Initializer.Count > 0:
                        TensorProto dims = graph.Initializer[random.Next(graph.Initializer.Count)];
                        dims.Dims.Add(Pick("-1", "0", "3", "1000000000000") is var v ? long.Parse(v, CultureInfo.InvariantCulture) : 1);
                        break;
                    case 3:
                        graph.Node.Add(new NodeProto { OpType = Pick("Identity", "Relu", "Add", "NoSuchOp"), Input = { Pick(names), Pick(names) }, Output = { Pick(names) } });
                        break;
                    case 4:
                        proto.OpsetImport[0].Version = random.Next(-5, 30);
                        break;
                    case 5:
                        proto.IrVersion = random.Next(-3, 12);
                        break;
                    case 6 when graph.Node.Count > 0:
                        graph.Node[random.Next(graph.Node.Count)].Input.Add(Pick(names));
                        break;
                    case 7:
                        graph.Output.Add(new ValueInfoProto { Name = Pick(names) });
                        break;
                    default:
                        graph.Initializer.Add(new TensorProto { Name = Pick(names), DataType = random.Next(0, 30), Dims = { random.Next(0, 5) }, FloatData = { 1f, float.NaN } });
                        break;
                }
            }

            return proto.ToByteArray();
        }

        private byte[] Safetensors()
        {
            string dtype = Pick("F32", "I64", "F16", "BF16", "F64", "U8", "Q4", "", "f32");
            int rows = random.Next(-1, 4);
            long begin = random.Next(-2, 3) * 4;
            long end = begin + random.Next(-1, 6) * 4;
            string offsets = random.Next(8) == 0 ? "[0]" : $"[{begin},{end}]";
            string header = random.Next(6) switch
            {
                0 => $"{{\"inputs\":{{\"dtype\":\"{dtype}\",\"shape\":[{rows},2],\"data_offsets\":{offsets}}}}}",
                1 => $"{{\"inputs\":{{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}},\"labels\":{{\"dtype\":\"{dtype}\",\"shape\":[{rows}],\"data_offsets\":{offsets}}}}}",
                2 => $"{{\"inputs\":{{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[0,8]}},\"inputs\":{{}}}}",
                3 => "{\"__metadata__\":" + Json(0) + "}",
                4 => "{" + new string('[', random.Next(1, 200)),
                _ => "{\"x\":\"" + Encoding.Latin1.GetString([(byte)random.Next(128, 256), (byte)random.Next(0, 256)]) + "\"}",
            };
            byte[] data = new byte[random.Next(0, 40)];
            random.NextBytes(data);
            if (random.Next(3) == 0 && data.Length >= 8)
            {
                BitConverter.TryWriteBytes(data.AsSpan(0, 4), Pick("nan", "inf", "-inf") switch { "nan" => float.NaN, "inf" => float.PositiveInfinity, _ => float.NegativeInfinity });
            }

            byte[] headerBytes = Encoding.Latin1.GetBytes(header);
            byte[] file = HostileInputs.Safetensors(headerBytes, data);
            if (random.Next(10) == 0)
            {
                BitConverter.TryWriteBytes(file.AsSpan(0, 8), random.NextInt64());
            }

            return file;
        }

        private string JsonLines()
        {
            var text = new StringBuilder();
            for (int i = 0, n = random.Next(1, 6); i < n; i++)
            {
                text.Append(random.Next(7) switch
                {
                    0 => "{\"role\":\"" + Pick("pair", "control", "statement", "contrast", "prompt", "x") + "\",\"tokens\":[1,2,3]}",
                    1 => "{\"role\":\"pair\",\"base\":[1," + Pick("1e999", "-1", "1.5", "\"a\"", "99999999999999999999") + "],\"cued\":[2]}",
                    2 => "{\"role\":\"statement\",\"tokens\":[1],\"label\":" + Pick("true", "1", "null", "\"yes\"") + "}",
                    3 => "{" + new string('[', random.Next(1, 100)),
                    4 => "{\"role\":\"prompt\",\"tokens\":[" + string.Join(',', Enumerable.Repeat("7", random.Next(0, 5000))) + "]}",
                    5 => Json(0),
                    _ => "{\"role\":\"contrast\",\"positive\":[1],\"negative\":[2],\"yes\":" + Pick("1", "-1", "\"a\"") + "}",
                }).Append(Pick("\n", "\r\n", "\r", "\n\n"));
            }

            return text.ToString();
        }

        private string Json(int depth)
        {
            int choice = depth > 6 ? random.Next(5) : random.Next(9);
            return choice switch
            {
                0 => Pick("1e999", "-1e999", "0", "-1", "1.5", "99999999999999999999999"),
                1 => "\"" + Pick("x", "trojan-scan", "model-inventory", "any-fail", "1.0.0", "", "Not Kebab", "\\ud800") + "\"",
                2 => Pick("true", "false", "null"),
                3 => Pick("{", "[", "]", "}", "{\"a\":", "\"unterminated"),
                4 => new string('[', random.Next(60, 80)) + new string(']', random.Next(60, 80)),
                5 or 6 => "{" + string.Join(',', Enumerable.Range(0, random.Next(0, 5)).Select(_ =>
                    "\"" + Pick("id", "version", "title", "controls", "probes", "probe", "threshold", "parameters", "combine", "evidence", "id") + "\":" + Json(depth + 1))) + "}",
                _ => "[" + string.Join(',', Enumerable.Range(0, random.Next(0, 4)).Select(_ => Json(depth + 1))) + "]",
            };
        }

        private string Yaml()
        {
            return random.Next(8) switch
            {
                0 => "id: x\ncontrols: " + new string('[', random.Next(60, 3000)) + new string(']', random.Next(0, 3000)),
                1 => "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b, *" + Pick("b", "nope") + "]\n",
                2 => "id: x\n? " + Pick("[a, b]", "{a: 1}", "a") + "\n: 1\n",
                3 => "id: x\nversion: '1'\ncontrols:\n  - id: c\n    probes:\n      - probe: model-inventory\n        threshold: " + Pick("1e999", ".inf", "-.inf", ".nan", "1", "0x10") + "\n",
                4 => "id: " + Pick("!!binary aGk=", "!custom x", "\"\\xZZ\"", "'unterminated", "|\n  block", "&x x") + "\n",
                5 => "id: x\n" + new string(' ', random.Next(0, 5)) + "version: " + Pick("1", "[1", "{", "- 1", "\t1") + "\n",
                6 => "--- \nid: a\n...\n--- \nid: b\n" + Pick("%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\u0000"),
                _ => Json(0),
            };
        }

        private HttpRequestMessage Multipart()
        {
            string boundary = Pick("b", "boundary", "----x", new string('z', random.Next(60, 90)));
            var body = new StringBuilder();
            int parts = random.Next(0, random.Next(10) == 0 ? 1100 : 5);
            for (int i = 0; i < parts; i++)
            {
                body.Append("--").Append(random.Next(12) == 0 ? "wrong" : boundary).Append("\r\n");
                if (random.Next(8) != 0)
                {
                    body.Append("Content-Disposition: ").Append(Pick("form-data", "attachment", "form-data; name=", "form-data; name=\"kind\"", "form-data; name=\"file\"; filename=\"m.onnx\"", "form-data; name=\"name\"")).Append("\r\n");
                }

                if (random.Next(6) == 0)
                {
                    body.Append("X-Long: ").Append('h', random.Next(1000, 20000)).Append("\r\n");
                }

                body.Append("\r\n").Append(Pick("model", "dataset", "{\"role\":\"prompt\",\"tokens\":[1]}", "\u00ff\u00fe", new string('v', random.Next(0, 6000)))).Append("\r\n");
            }

            if (random.Next(3) != 0)
            {
                body.Append("--").Append(boundary).Append("--\r\n");
            }

            string contentType = random.Next(6) switch
            {
                0 => "multipart/form-data",
                1 => "multipart/form-data; boundary=\"\"",
                2 => "multipart/mixed; boundary=" + boundary,
                3 => "text/plain",
                _ => "multipart/form-data; boundary=" + boundary,
            };
            var content = new ByteArrayContent(Encoding.Latin1.GetBytes(body.ToString()));
            content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            return new HttpRequestMessage(HttpMethod.Post, "/api/v1/artifacts") { Content = content };
        }

        private string Audit() => random.Next(3) switch
        {
            0 => Json(0),
            1 => "{\"modelArtifactId\":" + Pick("\"art_x\"", "1", "null", "\"../../etc/passwd\"", "\"" + new string('a', 5000) + "\"") + ",\"profileId\":" + Pick("\"trojan-scan\"", "[]", "\"nope\"") + ",\"profileVersion\":" + Pick("\"1\"", "{}", "null") + "}",
            _ => "{\"datasetArtifactId\":\"art_" + random.Next() + "\"," + Pick("", "\"x\":", "\"modelArtifactId\":\"\\u0000\"") + "}",
        };
    }
}

/// <summary>
/// Tests that measure the whole process (managed memory growth) run alone: other test classes running in parallel in
/// the same process would count their own allocations as the fuzzed service's.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Runs alone (measures the whole process)";
}
