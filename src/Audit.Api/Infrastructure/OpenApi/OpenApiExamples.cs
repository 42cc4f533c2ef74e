using System.Text.Json.Nodes;
using Microsoft.OpenApi;

namespace Audit.Api.Infrastructure.OpenApi;

/// <summary>
/// Examples for request bodies and the main answers, keyed by the component schema they illustrate, so every
/// operation that takes or returns that schema shows the same example in /docs and in generated clients. The
/// document test checks that every request body has one and that each example names only properties its schema has.
/// </summary>
internal static class OpenApiExamples
{
    private const string AuditId = "aud_3f9c2a7e5b0d4e61a8c4f2b7d9e01a36";
    private const string ModelId = "art_8d2e6b1f0c9a4d7e9b3a5c6f1e2d4b70";
    private const string DatasetId = "art_1c7a9e3d5f2b4a6c8e0d1f3b5a7c9e24";
    private const string Sha256 = "9f2a6c1e0b8d4f7a3c5e9b1d2f4a6c8e0b3d5f7a9c1e2b4d6f8a0c3e5b7d9f1a";
    private const string Created = "2026-11-30T09:15:02.114Z";

    private static readonly Dictionary<string, Func<JsonNode>> BySchema = new(StringComparer.Ordinal)
    {
        ["UploadArtifactForm"] = () => new JsonObject { ["file"] = "(the .onnx, .safetensors, .npz or .jsonl bytes)", ["kind"] = "model", ["name"] = "credit-scoring-v3.onnx" },
        ["VerifyReportForm"] = () => new JsonObject { ["file"] = "(the PDF report's bytes)" },
        ["SubmitAuditRequest"] = () => new JsonObject { ["modelArtifactId"] = ModelId, ["datasetArtifactId"] = DatasetId, ["profileId"] = "trojan-scan", ["profileVersion"] = null },
        ["CreateWebhookRequest"] = () => new JsonObject { ["url"] = "https://hooks.example.com/audit", ["events"] = new JsonArray("audit.finding", "audit.succeeded", "audit.failed") },
        ["CreateTenantRequest"] = () => new JsonObject { ["id"] = "acme", ["name"] = "Acme Insurance" },
        ["CreateApiKeyRequest"] = () => new JsonObject { ["tenantId"] = "acme", ["role"] = "compliance", ["name"] = "ci-pipeline" },
        ["ProfileDraft"] = () => new JsonObject
        {
            ["id"] = "acme-backdoor-policy",
            ["version"] = "1.0.0",
            ["title"] = "Acme backdoor policy",
            ["regulation"] = "Internal model-risk policy MR-7",
            ["description"] = "Trigger reverse-engineering on every image classifier before release.",
            ["controls"] = new JsonArray(new JsonObject
            {
                ["id"] = "trigger-scan",
                ["clause"] = "MR-7 §3.2",
                ["title"] = "No class is reachable by a small trigger",
                ["probes"] = new JsonArray(new JsonObject { ["probe"] = "neural-cleanse", ["parameters"] = new JsonObject(), ["threshold"] = 2.0 }),
                ["evidence"] = new JsonArray("dataset"),
                ["combine"] = "any-fail",
            }),
        },
        ["ArtifactResponse"] = () => new JsonObject
        {
            ["id"] = ModelId, ["kind"] = "model", ["name"] = "credit-scoring-v3.onnx", ["sha256"] = Sha256, ["sizeBytes"] = 1_048_576,
            ["format"] = "onnx", ["createdAt"] = Created,
            ["summary"] = new JsonObject { ["irVersion"] = 8, ["parameters"] = 261_450 },
        },
        ["AuditResponse"] = () => new JsonObject
        {
            ["id"] = AuditId, ["status"] = "running", ["progress"] = 0.42, ["currentStep"] = "neural-cleanse (trigger-reverse-engineering)",
            ["etaSeconds"] = 96.5, ["modelArtifactId"] = ModelId, ["datasetArtifactId"] = DatasetId,
            ["profile"] = new JsonObject { ["id"] = "trojan-scan", ["version"] = "2.0.0", ["contentHash"] = "sha256:" + Sha256 },
            ["verdict"] = null, ["device"] = "cpu", ["seed"] = 1_234_567, ["createdAt"] = Created, ["startedAt"] = "2026-11-30T09:15:03.020Z",
            ["finishedAt"] = null, ["controls"] = new JsonArray(),
            ["findings"] = new JsonArray(new JsonObject
            {
                ["controlId"] = "inventory", ["probe"] = "model-inventory", ["verdict"] = "pass", ["score"] = 0.0,
                ["summary"] = "Self-contained ONNX (opset 17), executable on a synthetic input.", ["details"] = new JsonObject(), ["role"] = "verdict",
            }),
            ["error"] = null,
        },
        ["WebhookResponse"] = () => new JsonObject
        {
            ["id"] = "whk_5e1b7c9d3a2f4e6b8d0c1a3e5f7b9d2c", ["url"] = "https://hooks.example.com/audit",
            ["events"] = new JsonArray("audit.finding", "audit.succeeded", "audit.failed"), ["createdAt"] = Created,
        },
        ["CreatedWebhook"] = () => new JsonObject
        {
            ["id"] = "whk_5e1b7c9d3a2f4e6b8d0c1a3e5f7b9d2c", ["url"] = "https://hooks.example.com/audit",
            ["events"] = new JsonArray("audit.finding", "audit.succeeded", "audit.failed"), ["createdAt"] = Created,
            ["secret"] = "(shown once: the HMAC-SHA256 key for X-Audit-Signature)",
        },
        ["CreatedApiKey"] = () => new JsonObject
        {
            ["id"] = "key_0b2d4f6a8c1e3b5d7f9a2c4e6b8d0f13", ["tenantId"] = "acme", ["role"] = "compliance", ["name"] = "ci-pipeline",
            ["key"] = "(shown once)",
        },
        ["TenantResponse"] = () => new JsonObject { ["id"] = "acme", ["name"] = "Acme Insurance", ["createdAt"] = Created },
        ["VerificationResult"] = () => new JsonObject
        {
            ["valid"] = true,
            ["checks"] = new JsonArray(
                new JsonObject { ["name"] = "signature", ["passed"] = true, ["detail"] = "The CMS signature matches the signed byte ranges." },
                new JsonObject { ["name"] = "transparencyLogInclusion", ["passed"] = true, ["detail"] = "Included at index 41 of a tree of 57." }),
            ["claims"] = new JsonObject
            {
                ["reportId"] = "rpt_6a8c0e2b4d6f8a1c3e5b7d9f0a2c4e61", ["auditId"] = AuditId, ["tenant"] = "acme", ["modelSha256"] = Sha256,
                ["datasetSha256"] = null, ["profileId"] = "trojan-scan", ["profileVersion"] = "2.0.0", ["profileContentHash"] = "sha256:" + Sha256,
                ["verdict"] = "pass", ["issuedAt"] = "2026-11-30T09:18:41.502Z",
            },
            ["signingTime"] = "2026-11-30T09:18:41.502Z", ["signer"] = "CN=Audit report signing", ["logIndex"] = 41,
        },
    };

    /// <summary>Sets the example of every request body and 2xx answer whose schema has one here (and none yet).</summary>
    public static void Apply(OpenApiDocument document)
    {
        foreach (IOpenApiPathItem path in document.Paths?.Values ?? Enumerable.Empty<IOpenApiPathItem>())
        {
            foreach (OpenApiOperation operation in path.Operations?.Values ?? Enumerable.Empty<OpenApiOperation>())
            {
                if (operation.RequestBody?.Content is { } body)
                {
                    SetExamples(body);
                }

                foreach ((string status, IOpenApiResponse response) in operation.Responses ?? new OpenApiResponses())
                {
                    if (status.StartsWith('2') && response.Content is { } content)
                    {
                        SetExamples(content);
                    }
                }
            }
        }
    }

    private static void SetExamples(IDictionary<string, OpenApiMediaType> content)
    {
        foreach (OpenApiMediaType media in content.Values)
        {
            if (media.Example is null && media.Schema is OpenApiSchemaReference reference
                && reference.Reference.Id is { } id && BySchema.TryGetValue(id, out Func<JsonNode>? example))
            {
                media.Example = example();
            }
        }
    }
}
