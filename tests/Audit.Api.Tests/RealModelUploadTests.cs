using System.Net;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Audit.Evaluators.Tests.Inventory;
using Google.Protobuf;
using Onnx;

namespace Audit.Api.Tests;

/// <summary>Uploads of the interfaces public models bring: measured executability, detected kind, contrib operators.</summary>
public sealed class RealModelUploadTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task Upload_ModelWithAnUnimplementedMicrosoftOperator_Returns422NamingItAndHowToExportWithoutIt()
    {
        ModelProto model = TinyGraphs.Vector();
        model.Graph.Node[0].OpType = "QOrderedMatMul";
        model.Graph.Node[0].Domain = "com.microsoft";
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadAsync(model.ToByteArray(), "model", "optimized.onnx");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        JsonNode problem = await response.JsonAsync();
        Assert.Equal("unsupported-operators", problem["reason"]!.GetValue<string>());
        string detail = problem["detail"]!.GetValue<string>();
        Assert.Contains("com.microsoft.QOrderedMatMul", detail, StringComparison.Ordinal);
        Assert.Contains("without --optimize", detail, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.Combine(_factory.DataDirectory, "artifacts", "sha256"), "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Upload_Encoder_SummaryReportsItsInterfaceAndThatItRan()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadAsync(TinyGraphs.Encoder().ToByteArray(), "model", "encoder.onnx");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonNode summary = (await response.JsonAsync())["summary"]!;
        Assert.True(summary["executable"]!.GetValue<bool>());
        Assert.Equal("encoder", summary["interface"]!["kind"]!.GetValue<string>());
        Assert.Equal(TinyGraphs.EncoderHidden, summary["interface"]!["hiddenSize"]!.GetValue<long>());
        Assert.Null(summary["interface"]!["vocabulary"]);
        Assert.Equal(
            ["input_ids", "attention_mask", "token_type_ids"],
            summary["interface"]!["inputs"]!.AsArray().Select(i => i!["role"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Upload_ModelThatFailsWhenRun_IsStoredAsNotExecutableWithTheReason()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadAsync(TinyGraphs.VectorThatFailsWhenRun().ToByteArray(), "model", "broken.onnx");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonNode summary = (await response.JsonAsync())["summary"]!;
        Assert.False(summary["executable"]!.GetValue<bool>());
        Assert.Contains("Expand", summary["executionError"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_PromptEvidenceForAnEncoder_IsAcceptedNotRefusedAgainstItsHiddenWidth()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        string model = await client.UploadIdAsync(TinyGraphs.Encoder().ToByteArray(), "model");
        // Token 20 is inside the encoder's vocabulary (30) but above its hidden width (6), which is no vocabulary.
        string dataset = await client.UploadIdAsync(System.Text.Encoding.UTF8.GetBytes("""{"role":"prompt","tokens":[20,2,3]}""" + "\n"), "dataset", "evidence.jsonl");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = dataset, profileId = "eu-gpai-systemic-deception" });

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
    }

    [Fact]
    public async Task Submit_PromptEvidenceBeyondACausalLmsMeasuredVocabulary_Returns422()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        // Every dimension of the LM's logits is symbolic: the vocabulary (11) comes from the upload's forward pass.
        string model = await client.UploadIdAsync(TinyGraphs.CausalLm().ToByteArray(), "model");
        string dataset = await client.UploadIdAsync(System.Text.Encoding.UTF8.GetBytes("""{"role":"prompt","tokens":[20,2,3]}""" + "\n"), "dataset", "evidence.jsonl");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = dataset, profileId = "eu-gpai-systemic-deception" });

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("[0, 11)", (await response.JsonAsync())["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
