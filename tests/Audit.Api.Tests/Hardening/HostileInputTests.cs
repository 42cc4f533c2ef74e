using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Onnx;

namespace Audit.Api.Tests.Hardening;

/// <summary>The reproducers of issue #15, each answered with a 4xx problem and the service still up.</summary>
public sealed class HostileInputTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false, maxUploadBytes: 32 * 1024 * 1024);

    public void Dispose() => _factory.Dispose();

    private HttpClient Compliance => _factory.ClientFor(AuditApiFactory.AcmeCompliance);

    private static StringContent Yaml(string text) => new(text, Encoding.UTF8, "application/yaml");

    [Theory]
    [InlineData(50_000)]
    [InlineData(10_000)]
    [InlineData(65)]
    public async Task Profile_DeeplyNestedYaml_Returns400(int depth)
    {
        string yaml = "id: x\ncontrols: " + new string('[', depth) + new string(']', depth);

        HttpResponseMessage response = await Compliance.PostAsync("/api/v1/profiles", Yaml(yaml));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        Assert.Equal(HttpStatusCode.OK, (await Compliance.GetAsync("/api/v1/profiles")).StatusCode);
    }

    [Fact]
    public async Task Profile_YamlAliasBomb_Returns400Quickly()
    {
        var yaml = new StringBuilder("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (char c = 'b'; c <= 'i'; c++)
        {
            char p = (char)(c - 1);
            yaml.Append(c).Append(": &").Append(c).Append(" [*").Append(p).Append(",*").Append(p).Append(",*").Append(p).Append(",*").Append(p)
                .Append(",*").Append(p).Append(",*").Append(p).Append(",*").Append(p).Append(",*").Append(p).Append(",*").Append(p).Append("]\n");
        }

        var clock = Stopwatch.StartNew();
        HttpResponseMessage response = await Compliance.PostAsync("/api/v1/profiles", Yaml("id: bomb\n" + yaml));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    [Theory]
    [InlineData("id: x\n? [a, b]\n: 1\n")]
    [InlineData("id: x\n? {a: 1}\n: 1\n")]
    [InlineData("id: x\nversion: '1'\ncontrols:\n  - id: c\n    probe: trigger-scan\n    threshold: 1e999\n")]
    [InlineData("id: x\nid: y\n")]
    [InlineData("id: [unclosed\n")]
    public async Task Profile_HostileYamlShapes_Return400(string yaml)
    {
        HttpResponseMessage response = await Compliance.PostAsync("/api/v1/profiles", Yaml(yaml));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("""{"id":"x","version":"1","controls":[{"id":"c","probe":"trigger-scan","threshold":1e999}]}""")]
    [InlineData("""{"id":"x","id":"y"}""")]
    public async Task Profile_HostileJson_Returns400(string json)
    {
        HttpResponseMessage response = await Compliance.PostAsync("/api/v1/profiles", new StringContent(json, Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Profile_PublishedByAdmin_IsForbiddenAsDocumented()
    {
        HttpClient admin = _factory.ClientFor(AuditApiFactory.Admin);

        HttpResponseMessage response = await admin.PostAsync("/api/v1/profiles", Yaml("id: admin-profile\nversion: '1'\n"));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    public static TheoryData<string, byte[]> BrokenDatasets()
    {
        byte[] eight = new byte[8];
        return new()
        {
            { "invalid UTF-8", HostileInputs.Safetensors([(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], []) },
            { "duplicate key", HostileInputs.Safetensors("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}""", eight) },
            { "overlap", HostileInputs.Safetensors("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[4,12]}}""", new byte[12]) },
            { "gap", HostileInputs.Safetensors("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},"labels":{"dtype":"I64","shape":[1],"data_offsets":[12,20]}}""", new byte[20]) },
            { "trailing bytes", HostileInputs.Safetensors("""{"inputs":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}""", new byte[16]) },
            { "unknown dtype", HostileInputs.Safetensors("""{"inputs":{"dtype":"F31","shape":[1,2],"data_offsets":[0,8]}}""", eight) },
            { "size mismatch", HostileInputs.Safetensors("""{"inputs":{"dtype":"F32","shape":[1,3],"data_offsets":[0,8]}}""", eight) },
            { "NaN", HostileInputs.Dataset([1f, float.NaN, 2f, 3f]) },
            { "+Inf", HostileInputs.Dataset([1f, 2f, float.PositiveInfinity, 3f]) },
            { "-Inf", HostileInputs.Dataset([float.NegativeInfinity, 2f, 1f, 3f]) },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenDatasets))]
    public async Task Upload_BrokenSafetensors_Returns422(string why, byte[] dataset)
    {
        HttpResponseMessage response = await Compliance.UploadAsync(dataset, "dataset", "d.safetensors");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.True(HostileInputs.Leftovers(_factory.DataDirectory).Length == 0, why);
    }

    [Fact]
    public async Task Upload_FiniteDataset_IsAccepted()
    {
        HttpResponseMessage response = await Compliance.UploadAsync(HostileInputs.Dataset([1f, 2f, 3f, 4f]), "dataset", "d.safetensors");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    public static TheoryData<string> BrokenModels() => ["raw_data size", "unknown data type", "cycle", "undefined input", "duplicate output", "negative opset"];

    private static ModelProto Break(string how)
    {
        ModelProto model = HostileInputs.Conv2d();
        GraphProto graph = model.Graph;
        string input = graph.Input[0].Name;
        switch (how)
        {
            case "raw_data size":
                graph.Initializer.Add(new TensorProto { Name = "extra", DataType = 1, Dims = { 4 }, RawData = Google.Protobuf.ByteString.CopyFrom(new byte[12]) });
                break;
            case "unknown data type":
                graph.Initializer.Add(new TensorProto { Name = "extra", DataType = 99, Dims = { 1 }, RawData = Google.Protobuf.ByteString.CopyFrom(new byte[4]) });
                break;
            case "cycle":
                graph.Node.Add(new NodeProto { Name = "c1", OpType = "Identity", Input = { "loop2" }, Output = { "loop1" } });
                graph.Node.Add(new NodeProto { Name = "c2", OpType = "Identity", Input = { "loop1" }, Output = { "loop2" } });
                break;
            case "undefined input":
                graph.Node.Add(new NodeProto { Name = "u", OpType = "Identity", Input = { "nowhere" }, Output = { "u1" } });
                break;
            case "duplicate output":
                graph.Node.Add(new NodeProto { Name = "d", OpType = "Identity", Input = { input }, Output = { graph.Node[0].Output[0] } });
                break;
            case "negative opset":
                model.OpsetImport[0].Version = -3;
                break;
        }

        return model;
    }

    [Theory]
    [MemberData(nameof(BrokenModels))]
    public async Task Upload_StructurallyBrokenOnnx_Returns422WithReason(string how)
    {
        HttpResponseMessage response = await Compliance.UploadAsync(Break(how).Bytes(), "model");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        JsonNode problem = await response.JsonAsync();
        Assert.False(string.IsNullOrEmpty(problem["reason"]?.GetValue<string>()), problem.ToJsonString());
        Assert.Empty(HostileInputs.Leftovers(_factory.DataDirectory));
    }

    [Fact]
    public async Task Upload_OneHugeJsonLine_Returns422WithoutReadingItWhole()
    {
        // One 20 MB line: refused at the per-line limit.
        byte[] line = Encoding.UTF8.GetBytes("{\"role\":\"prompt\",\"tokens\":[" + string.Join(',', Enumerable.Repeat("1", 10_000_000)) + "]}\n");
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true);

        HttpResponseMessage response = await Compliance.UploadAsync(line, "dataset", "e.jsonl");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Empty(HostileInputs.Leftovers(_factory.DataDirectory));
        long allocatedGrowth = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(allocatedGrowth < 64L * 1024 * 1024, $"retained {allocatedGrowth} bytes");
    }

    public static TheoryData<string, string, string> BrokenMultipart()
    {
        string part = "--b\r\nContent-Disposition: form-data; name=\"kind\"\r\n\r\nmodel\r\n";
        return new()
        {
            { "no boundary", "multipart/form-data", part + "--b--\r\n" },
            { "wrong boundary", "multipart/form-data; boundary=zzz", part + "--b--\r\n" },
            { "no closing boundary", "multipart/form-data; boundary=b", part },
            { "too many parts", "multipart/form-data; boundary=b", string.Concat(Enumerable.Range(0, 1100).Select(i => $"--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n")) + "--b--\r\n" },
            { "no content-disposition", "multipart/form-data; boundary=b", "--b\r\nContent-Type: text/plain\r\n\r\nmodel\r\n--b--\r\n" },
            { "file without closing", "multipart/form-data; boundary=b", "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"m.onnx\"\r\n\r\n" + new string('x', 100_000) },
            { "boundary too long", "multipart/form-data; boundary=" + new string('b', 200), "--b--\r\n" },
        };
    }

    [Theory]
    [MemberData(nameof(BrokenMultipart))]
    public async Task Upload_BrokenMultipart_Returns400(string why, string contentType, string body)
    {
        HttpResponseMessage response = await Compliance.PostAsync("/api/v1/artifacts", HostileInputs.RawMultipart(contentType, body));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(HostileInputs.Leftovers(_factory.DataDirectory).Length == 0, why);
    }

    [Fact]
    public async Task Responses_CarrySecurityHeaders_AndNoServerHeader()
    {
        HttpResponseMessage profiles = await Compliance.GetAsync("/api/v1/profiles");
        HttpResponseMessage verify = await _factory.CreateClient().GetAsync("/verify");
        HttpResponseMessage anonymous = await _factory.CreateClient().GetAsync("/api/v1/profiles");
        HttpClient admin = _factory.ClientFor(AuditApiFactory.Admin);
        Assert.Equal(HttpStatusCode.Created, (await admin.PostAsJsonAsync("/api/v1/admin/tenants", new { id = "initech", name = "Initech" })).StatusCode);
        HttpResponseMessage key = await admin.PostAsJsonAsync("/api/v1/admin/api-keys", new { tenantId = "initech", role = "auditor", name = "ci" });

        foreach (HttpResponseMessage response in new[] { profiles, verify, anonymous, key })
        {
            Assert.Equal("nosniff", string.Join(",", response.Headers.GetValues("X-Content-Type-Options")));
            Assert.False(response.Headers.Contains("Server"));
        }

        Assert.Contains("frame-ancestors 'none'", string.Join(",", verify.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.StartsWith("ApiKey", anonymous.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Created, key.StatusCode);
        Assert.True(key.Headers.CacheControl?.NoStore, key.Headers.ToString());
    }

    [Fact]
    public async Task DataDirectory_IsOwnerOnly()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // Unix modes only.
        }

        Assert.Equal(HttpStatusCode.Created, (await Compliance.UploadAsync(HostileInputs.Dataset([1f, 2f, 3f, 4f]), "dataset", "d.safetensors")).StatusCode);

        const UnixFileMode directoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode fileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        Assert.Equal(directoryMode, File.GetUnixFileMode(_factory.DataDirectory));
        string[] files = Directory.GetFiles(_factory.DataDirectory, "*", SearchOption.AllDirectories);
        Assert.Contains(files, f => f.EndsWith("audit.db", StringComparison.Ordinal));
        Assert.Contains(files, f => f.Contains(Path.Combine("artifacts", "sha256"), StringComparison.Ordinal));
        foreach (string file in files)
        {
            UnixFileMode mode = File.GetUnixFileMode(file);
            Assert.True(mode == fileMode, $"{file}: {mode}");
        }

        foreach (string directory in Directory.GetDirectories(_factory.DataDirectory, "*", SearchOption.AllDirectories))
        {
            UnixFileMode mode = File.GetUnixFileMode(directory);
            Assert.True(mode == directoryMode, $"{directory}: {mode}");
        }
    }
}
