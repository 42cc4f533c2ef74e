using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Onnx;

namespace Audit.Api.Tests.Hardening;

/// <summary>
/// A rejected upload must never remove what a concurrent accepted upload of the same bytes stored, whichever
/// tenant sent either (issue #15: 7 of 19 accepted models lost their file).
/// </summary>
public sealed class UploadRaceTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task SameNewBytes_AcceptedAsModelAndRejectedAsDatasetAtOnce_KeepTheModelsFile()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpClient globex = _factory.ClientFor(AuditApiFactory.GlobexCompliance);
        for (int round = 0; round < 12; round++)
        {
            // New bytes every round: the same valid model with a different doc string.
            ModelProto model = HostileInputs.Conv2d();
            model.DocString = $"round {round} {Guid.NewGuid()}";
            byte[] bytes = model.Bytes();

            using var start = new SemaphoreSlim(0);
            Task<HttpResponseMessage> Upload(HttpClient client, string kind) => Task.Run(async () =>
            {
                await start.WaitAsync();
                return await client.UploadAsync(bytes, kind, kind == "model" ? "m.onnx" : "d.bin");
            });

            var uploads = new List<Task<HttpResponseMessage>> { Upload(acme, "model") };
            uploads.AddRange(Enumerable.Range(0, 5).Select(_ => Upload(globex, "dataset")));
            start.Release(uploads.Count);
            HttpResponseMessage[] responses = await Task.WhenAll(uploads);

            Assert.Equal(HttpStatusCode.Created, responses[0].StatusCode);
            Assert.All(responses.Skip(1), r => Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode));
            JsonNode artifact = await responses[0].JsonAsync();
            string sha = artifact["sha256"]!.GetValue<string>();
            string blob = Path.Combine(_factory.DataDirectory, "artifacts", "sha256", sha[..2], sha);
            Assert.True(File.Exists(blob), $"round {round}: the accepted model's blob is gone");
            Assert.Equal(bytes, await File.ReadAllBytesAsync(blob));
            Assert.Empty(HostileInputs.Leftovers(_factory.DataDirectory));
        }
    }

    [Fact]
    public async Task RejectedUpload_OfBytesAlreadyStored_LeavesTheStoredBlob()
    {
        HttpClient acme = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        HttpClient globex = _factory.ClientFor(AuditApiFactory.GlobexCompliance);
        byte[] model = TestModels.Conv2d;
        string id = await acme.UploadIdAsync(model, "model");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, (await globex.UploadAsync(model, "dataset", "d.bin")).StatusCode);

        string sha = (await (await acme.GetAsync($"/api/v1/artifacts/{id}")).JsonAsync())["sha256"]!.GetValue<string>();
        Assert.True(File.Exists(Path.Combine(_factory.DataDirectory, "artifacts", "sha256", sha[..2], sha)));
    }
}
