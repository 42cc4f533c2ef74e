using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;

namespace Audit.Api.Tests.OpenApi;

/// <summary>
/// A client that knows nothing but the OpenAPI document: it finds the upload, submit, status and report operations
/// by what the document says they take and answer (multipart body, 202, application/pdf), authenticates the way the
/// security scheme says, and drives upload → submit → report. No URL is written here; if the document stops
/// describing an operation well enough to be found, this fails.
/// </summary>
public sealed class DocumentDrivenClientTests : IDisposable
{
    private readonly AuditApiFactory _factory = new();

    public void Dispose() => _factory.Dispose();

    private sealed record Operation(string Method, string Path, JsonNode Node);

    private static IEnumerable<Operation> Operations(JsonNode document) =>
        document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject().Select(op => new Operation(op.Key.ToUpperInvariant(), path.Key, op.Value!)));

    private static Operation Single(JsonNode document, string what, Func<Operation, bool> predicate)
    {
        Operation[] found = [.. Operations(document).Where(predicate)];
        Assert.True(found.Length == 1, $"The document should describe exactly one {what} operation; found {found.Length}.");
        return found[0];
    }

    private static bool HasBody(Operation op, string mediaType) => op.Node["requestBody"]?["content"]?[mediaType] is not null;

    private static bool Answers(Operation op, string status, string? mediaType = null) =>
        op.Node["responses"]?[status] is { } response && (mediaType is null || response["content"]?[mediaType] is not null);

    private static bool Tagged(Operation op, string tag) => op.Node["tags"]?.AsArray().Any(t => t!.GetValue<string>() == tag) == true;

    private static string Fill(Operation op, Dictionary<string, string> values)
    {
        string path = op.Path;
        foreach (JsonNode? parameter in op.Node["parameters"]?.AsArray() ?? [])
        {
            if (parameter!["in"]!.GetValue<string>() == "path")
            {
                string name = parameter["name"]!.GetValue<string>();
                path = path.Replace("{" + name + "}", Uri.EscapeDataString(values[name]), StringComparison.Ordinal);
            }
        }

        Assert.DoesNotContain("{", path, StringComparison.Ordinal);
        return path;
    }

    [Fact]
    public async Task ClientFromTheDocument_AuthenticatesUploadsSubmitsAndDownloadsTheReport()
    {
        JsonNode document = (await (await _factory.CreateClient().GetAsync("/openapi/v1.json")).JsonAsync());

        Operation upload = Single(document, "upload", op => op.Method == "POST" && Tagged(op, "Artifacts") && HasBody(op, "multipart/form-data"));
        Operation submit = Single(document, "submit", op => op.Method == "POST" && HasBody(op, "application/json") && Answers(op, "202") && Tagged(op, "Audits"));
        Operation status = Single(document, "get audit", op => op.Method == "GET" && Tagged(op, "Audits") && op.Path.Count(c => c == '{') == 1 && Answers(op, "200", "application/json"));
        Operation report = Single(document, "report", op => op.Method == "GET" && Answers(op, "200", "application/pdf"));

        // Authenticate as the security requirement of the upload says: an API key in the header the scheme names.
        string schemeName = upload.Node["security"]![0]!.AsObject().Single().Key;
        JsonNode scheme = document["components"]!["securitySchemes"]![schemeName]!;
        Assert.Equal("header", scheme["in"]!.GetValue<string>());
        HttpClient http = _factory.CreateClient();
        http.DefaultRequestHeaders.Add(scheme["name"]!.GetValue<string>(), AuditApiFactory.AcmeCompliance);

        // The multipart fields are the ones the document's upload describes.
        string uploadDescription = upload.Node["description"]!.GetValue<string>();
        Assert.Contains("file", uploadDescription, StringComparison.Ordinal);
        Assert.Contains("kind", uploadDescription, StringComparison.Ordinal);
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(TestModels.Conv2d);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "model.onnx");
        form.Add(new StringContent("model"), "kind");
        HttpResponseMessage uploaded = await http.PostAsync(upload.Path, form);
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        string modelId = (await uploaded.JsonAsync())["id"]!.GetValue<string>();

        // The submit body's property names come from the schema the document references.
        string bodySchema = submit.Node["requestBody"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>().Split('/')[^1];
        JsonObject properties = document["components"]!["schemas"]![bodySchema]!["properties"]!.AsObject();
        Assert.True(properties.ContainsKey("modelArtifactId") && properties.ContainsKey("profileId"), $"{bodySchema} lacks the fields a submit needs.");
        var body = new JsonObject { ["modelArtifactId"] = modelId, ["profileId"] = "trojan-scan" };
        HttpResponseMessage submitted = await http.PostAsync(submit.Path, new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        string auditId = (await submitted.JsonAsync())["id"]!.GetValue<string>();

        string statusPath = Fill(status, new Dictionary<string, string> { ["id"] = auditId });
        JsonNode audit = await http.WaitForAuditAsync(auditId);
        Assert.Equal(auditId, (await (await http.GetAsync(statusPath)).JsonAsync())["id"]!.GetValue<string>());
        Assert.Equal("succeeded", audit["status"]!.GetValue<string>());

        HttpResponseMessage pdf = await http.GetAsync(Fill(report, new Dictionary<string, string> { ["id"] = auditId }));
        Assert.Equal(HttpStatusCode.OK, pdf.StatusCode);
        Assert.Equal("application/pdf", pdf.Content.Headers.ContentType?.MediaType);
        Assert.StartsWith("%PDF-", Encoding.ASCII.GetString(await pdf.Content.ReadAsByteArrayAsync(), 0, 5), StringComparison.Ordinal);
    }
}
