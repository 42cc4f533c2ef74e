using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Infrastructure;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests;

public abstract class ArtifactsTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false, maxUploadBytes: 64 * 1024, database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task Upload_Model_ReturnsContentAddressedArtifactWithInventory()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        byte[] model = TestModels.Conv2d;

        HttpResponseMessage response = await client.UploadAsync(model, "model", name: "conv");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonNode artifact = await response.JsonAsync();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(model)), artifact["sha256"]!.GetValue<string>());
        Assert.Equal(model.Length, artifact["sizeBytes"]!.GetValue<long>());
        Assert.Equal("model", artifact["kind"]!.GetValue<string>());
        Assert.Equal("onnx", artifact["format"]!.GetValue<string>());
        Assert.Equal("conv", artifact["name"]!.GetValue<string>());
        JsonNode summary = artifact["summary"]!;
        Assert.Equal(3, summary["irVersion"]!.GetValue<long>());
        Assert.Equal(1, summary["operatorCounts"]!["Conv"]!.GetValue<int>());
        Assert.Equal(new[] { "2", "3", "7", "5" }, summary["inputs"]![0]!["shape"]!.AsArray().Select(d => d!.GetValue<string>()));
        Assert.Equal(76, summary["parameterCount"]!.GetValue<long>());
        Assert.Equal(response.Headers.Location!.ToString(), $"/api/v1/artifacts/{artifact["id"]}");

        JsonNode fetched = await (await client.GetAsync(response.Headers.Location)).JsonAsync();
        Assert.Equal(artifact["sha256"]!.GetValue<string>(), fetched["sha256"]!.GetValue<string>());
    }

    [DatabaseFact]
    public async Task Upload_SameBytesTwice_StoresOneBlob()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        string first = await client.UploadIdAsync(TestModels.Conv2d, "model");
        string second = await client.UploadIdAsync(TestModels.Conv2d, "model");

        Assert.NotEqual(first, second);
        string blobs = Path.Combine(_factory.DataDirectory, "artifacts", "sha256");
        Assert.Single(Directory.GetFiles(blobs, "*", SearchOption.AllDirectories), f => !f.Contains("incoming", StringComparison.Ordinal));
    }

    [DatabaseFact]
    public async Task Upload_LargerThanLimit_Returns413AndStoresNothing()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage response = await client.UploadAsync(new byte[200 * 1024], "dataset", "big.bin");

        await response.AssertProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.Empty(Directory.GetFiles(Path.Combine(_factory.DataDirectory, "artifacts", "sha256"), "*", SearchOption.AllDirectories));
    }

    [DatabaseFact]
    public async Task Upload_ModelThatIsNotOnnx_Returns422AndStoresNothing()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage response = await client.UploadAsync("import os; os.system('boom')"u8.ToArray(), "model", "model.pkl");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("malformed", (await response.JsonAsync())["reason"]!.GetValue<string>());
        Assert.Empty(Directory.GetFiles(Path.Combine(_factory.DataDirectory, "artifacts", "sha256"), "*", SearchOption.AllDirectories));
    }

    [DatabaseFact]
    public async Task Upload_WithUnknownKind_ReturnsValidationProblem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage response = await client.UploadAsync(TestModels.Conv2d, "weights");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "kind");
    }

    [DatabaseFact]
    public async Task Upload_WithoutFile_ReturnsValidationProblem()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        using var form = new MultipartFormDataContent { { new StringContent("model"), "kind" } };

        HttpResponseMessage response = await client.PostAsync("/api/v1/artifacts", form);

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "file");
    }

    [DatabaseFact]
    public async Task Upload_DatasetThatIsNeitherSafetensorsNorJsonLines_Returns422()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);

        HttpResponseMessage response = await client.UploadAsync("just,some,csv\n1,2,3\n"u8.ToArray(), "dataset", "data.csv");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
    }

    [DatabaseFact]
    public async Task Get_ArtifactOfAnotherTenant_Returns404()
    {
        string id = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadIdAsync(TestModels.Conv2d, "model");

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.GlobexCompliance).GetAsync($"/api/v1/artifacts/{id}");

        await response.AssertProblemAsync(HttpStatusCode.NotFound);
    }
}

public sealed class ArtifactsTestsOnSqlite() : ArtifactsTests(DatabaseProvider.Sqlite);

public sealed class ArtifactsTestsOnPostgres() : ArtifactsTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;

public abstract class DatasetUploadTests(DatabaseProvider database) : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false, database: database);

    public void Dispose() => _factory.Dispose();

    [DatabaseFact]
    public async Task Upload_SafetensorsWithWrongDtype_Returns422AndStoresNothing()
    {
        // A well-formed safetensors header whose inputs are int32: the probes need float32.
        byte[] header = System.Text.Encoding.UTF8.GetBytes("""{"inputs":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]}}""");
        byte[] file = new byte[8 + header.Length + 24];
        BitConverter.TryWriteBytes(file.AsSpan(0, 8), (ulong)header.Length);
        header.CopyTo(file, 8);

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadAsync(file, "dataset", "data.safetensors");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("dataset-rejected", (await response.JsonAsync())["reason"]!.GetValue<string>());
        Assert.Empty(Directory.GetFiles(Path.Combine(_factory.DataDirectory, "artifacts", "sha256"), "*", SearchOption.AllDirectories));
    }
}

public sealed class DatasetUploadTestsOnSqlite() : DatasetUploadTests(DatabaseProvider.Sqlite);

public sealed class DatasetUploadTestsOnPostgres() : DatasetUploadTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;
