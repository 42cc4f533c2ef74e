using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Audit.Api.Tests.Infrastructure;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;

namespace Audit.Api.Tests.OpenApi;

public sealed class OpenApiDocumentTests : IDisposable
{
    private readonly AuditApiFactory _factory = new(worker: false);

    public void Dispose() => _factory.Dispose();

    private async Task<JsonObject> DocumentAsync()
    {
        HttpResponseMessage response = await _factory.CreateClient().GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.JsonAsync()).AsObject();
    }

    /// <summary>Every routed endpoint the app serves (minus the document and docs themselves), as "METHOD /path".</summary>
    private List<(string Operation, Endpoint Endpoint)> RoutedOperations()
    {
        var routes = new List<(string Operation, Endpoint Endpoint)>();
        foreach (RouteEndpoint endpoint in _factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            if (endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true })
            {
                continue;
            }

            IReadOnlyList<string> methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["(any)"];
            string path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(segment => string.Concat(segment.Parts.Select(part => part switch
            {
                RoutePatternLiteralPart literal => literal.Content,
                RoutePatternParameterPart parameter => "{" + parameter.Name + "}",
                RoutePatternSeparatorPart separator => separator.Content,
                _ => "?",
            }))));
            routes.AddRange(methods.Select(method => ($"{method} {path}", (Endpoint)endpoint)));
        }

        return routes;
    }

    [Fact]
    public async Task Document_DescribesEveryRoutedEndpoint()
    {
        JsonObject document = await DocumentAsync();
        JsonObject paths = document["paths"]!.AsObject();
        var documented = paths.SelectMany(p => p.Value!.AsObject().Select(o => $"{o.Key.ToUpperInvariant()} {p.Key}")).ToHashSet();

        List<(string Operation, Endpoint Endpoint)> routed = RoutedOperations();
        Assert.True(routed.Count >= 30, $"Only {routed.Count} routed operations were found.");
        string[] missing = [.. routed.Select(r => r.Operation).Where(o => !documented.Contains(o))];
        Assert.True(missing.Length == 0, "Missing from /openapi/v1.json: " + string.Join(", ", missing));
        foreach (string path in new[] { "GET /health/live", "GET /health/ready", "GET /verify" })
        {
            Assert.Contains(path, documented);
        }
    }

    [Fact]
    public async Task SecuredOperations_CarryTheSecurityRequirementAnd401()
    {
        JsonObject document = await DocumentAsync();
        JsonObject schemes = document["components"]!["securitySchemes"]!.AsObject();
        Assert.Equal("apiKey", schemes["ApiKey"]!["type"]!.GetValue<string>());
        Assert.Equal("X-Api-Key", schemes["ApiKey"]!["name"]!.GetValue<string>());
        Assert.Equal("header", schemes["ApiKey"]!["in"]!.GetValue<string>());
        Assert.Equal("bearer", schemes["Bearer"]!["scheme"]!.GetValue<string>());

        int secured = 0;
        foreach ((string operation, Endpoint endpoint) in RoutedOperations())
        {
            string[] parts = operation.Split(' ', 2);
            JsonNode op = document["paths"]![parts[1]]![parts[0].ToLowerInvariant()]!;
            bool requiresKey = endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Count > 0 && endpoint.Metadata.GetMetadata<IAllowAnonymous>() is null;
            JsonArray? security = op["security"]?.AsArray();
            if (requiresKey)
            {
                secured++;
                Assert.True(security is { Count: > 0 }, $"{operation} lacks its security requirement.");
                Assert.Contains(security!, s => s!.AsObject().ContainsKey("ApiKey"));
                Assert.Contains(security!, s => s!.AsObject().ContainsKey("Bearer"));
                Assert.True(op["responses"]!["401"]?["content"]?["application/problem+json"] is not null, $"{operation} lacks a 401 problem answer.");
            }
            else
            {
                Assert.True(security is null or { Count: 0 }, $"{operation} is anonymous but documented as secured.");
            }
        }

        Assert.True(secured >= 15, $"Only {secured} secured operations.");
    }

    [Fact]
    public async Task Document_HasBodiesMediaTypesProblemsAndEnumerations()
    {
        JsonObject document = await DocumentAsync();
        JsonNode paths = document["paths"]!;

        JsonNode createProfile = paths["/api/v1/profiles"]!["post"]!;
        Assert.NotNull(createProfile["requestBody"]!["content"]!["application/json"]);
        Assert.NotNull(createProfile["requestBody"]!["content"]!["application/yaml"]);
        Assert.NotNull(paths["/api/v1/artifacts"]!["post"]!["requestBody"]!["content"]!["multipart/form-data"]);
        Assert.NotNull(paths["/api/v1/audits/{id}/report"]!["get"]!["responses"]!["200"]!["content"]!["application/pdf"]);
        Assert.NotNull(paths["/api/v1/audits/{id}/evidence/{evidenceId}"]!["get"]!["responses"]!["200"]!["content"]!["image/png"]);

        JsonNode submit = paths["/api/v1/audits"]!["post"]!;
        foreach (string status in new[] { "400", "401", "403", "409", "415" })
        {
            Assert.True(submit["responses"]![status]?["content"]?["application/problem+json"] is not null, $"POST /api/v1/audits lacks {status}.");
        }

        Assert.NotNull(paths["/api/v1/artifacts"]!["post"]!["responses"]!["413"]!["content"]!["application/problem+json"]);
        Assert.NotNull(paths["/api/v1/artifacts"]!["post"]!["responses"]!["422"]!["content"]!["application/problem+json"]);

        JsonNode schemas = document["components"]!["schemas"]!;
        Assert.Equal(["queued", "running", "succeeded", "failed", "cancelled"], Enumeration(schemas["AuditResponse"]!["properties"]!["status"]!));
        Assert.Equal(["pass", "fail", "inconclusive"], Enumeration(schemas["ControlResponse"]!["properties"]!["verdict"]!));
        Assert.Equal(["model", "dataset"], Enumeration(schemas["ArtifactResponse"]!["properties"]!["kind"]!));
        JsonNode statusParameter = paths["/api/v1/audits"]!["get"]!["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "status")!;
        Assert.Equal(["queued", "running", "succeeded", "failed", "cancelled"], Enumeration(statusParameter["schema"]!));
    }

    private static string[] Enumeration(JsonNode schema) =>
        [.. schema["enum"]!.AsArray().Where(v => v is not null).Select(v => v!.GetValue<string>())];

    [Fact]
    public async Task RequestBodiesAndMainAnswers_HaveExamplesThatFitTheirSchemas()
    {
        JsonObject document = await DocumentAsync();
        JsonNode schemas = document["components"]!["schemas"]!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject().Select(op => (Name: $"{op.Key.ToUpperInvariant()} {path.Key}", Node: op.Value!)))
            .ToList();
        int checkedExamples = 0;

        foreach ((string name, JsonNode operation) in operations)
        {
            foreach ((string mediaType, JsonNode? content) in operation["requestBody"]?["content"]?.AsObject() ?? [])
            {
                Assert.True(content!["example"] is not null, $"{name}: the {mediaType} request body has no example.");
                checkedExamples += CheckExample(name, content, schemas);
            }

            foreach ((string status, JsonNode? response) in operation["responses"]!.AsObject().Where(r => r.Key.StartsWith('2')))
            {
                foreach ((string mediaType, JsonNode? content) in response!["content"]?.AsObject() ?? [])
                {
                    checkedExamples += CheckExample($"{name} {status} {mediaType}", content!, schemas);
                }
            }
        }

        // The main answers of the audit flow show an example too.
        foreach ((string path, string method, string status) in new[]
        {
            ("/api/v1/artifacts", "post", "201"), ("/api/v1/artifacts/{id}", "get", "200"), ("/api/v1/audits", "post", "202"),
            ("/api/v1/audits/{id}", "get", "200"), ("/api/v1/verifications", "post", "200"), ("/api/v1/webhooks", "post", "201"),
        })
        {
            Assert.True(document["paths"]![path]![method]!["responses"]![status]!["content"]!["application/json"]!["example"] is not null, $"{method.ToUpperInvariant()} {path} {status} has no example.");
        }

        Assert.True(checkedExamples >= 10, $"Only {checkedExamples} examples were checked against their schemas.");
    }

    /// <summary>An example of a referenced object schema names only its properties, all its required ones, and allowed enum values.</summary>
    private static int CheckExample(string where, JsonNode content, JsonNode schemas)
    {
        if (content["example"] is not JsonObject example || content["schema"]?["$ref"]?.GetValue<string>() is not { } reference)
        {
            return 0;
        }

        JsonNode schema = schemas[reference.Split('/')[^1]]!;
        JsonObject properties = schema["properties"]!.AsObject();
        foreach ((string property, JsonNode? value) in example)
        {
            Assert.True(properties.ContainsKey(property), $"{where}: the example's '{property}' is not in {reference}.");
            if (properties[property]!["enum"] is JsonArray allowed && value is not null)
            {
                Assert.True(allowed.Any(a => a?.GetValue<string>() == value.GetValue<string>()), $"{where}: '{property}' = {value} is not one of {allowed.ToJsonString()}.");
            }
        }

        foreach (JsonNode? required in schema["required"]?.AsArray() ?? [])
        {
            Assert.True(example.ContainsKey(required!.GetValue<string>()), $"{where}: the example lacks the required '{required}'.");
        }

        return 1;
    }

    [Fact]
    public async Task EveryOperation_HasAUniqueOperationId()
    {
        JsonObject document = await DocumentAsync();
        var ids = document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject().Select(op => (Name: $"{op.Key.ToUpperInvariant()} {path.Key}", Id: op.Value!["operationId"]?.GetValue<string>())))
            .ToList();

        Assert.All(ids, op => Assert.Matches("^[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9]+$", op.Id ?? $"(none for {op.Name})"));
        Assert.Equal(ids.Count, ids.Select(op => op.Id).Distinct().Count());
        Assert.Contains(ids, op => op is { Name: "POST /api/v1/audits", Id: "Audits_Submit" });
    }

    [Fact]
    public async Task Downloads_AreBinaryStreams_AndFormsNameTheirFields()
    {
        JsonObject document = await DocumentAsync();
        JsonNode paths = document["paths"]!;

        foreach ((string path, string mediaType) in new[]
        {
            ("/api/v1/audits/{id}/report", "application/pdf"), ("/api/v1/audits/{id}/events", "text/event-stream"),
            ("/api/v1/audits/{id}/evidence/{evidenceId}", "image/png"), ("/api/v1/artifacts/{id}/content", "application/octet-stream"),
        })
        {
            JsonNode schema = paths[path]!["get"]!["responses"]!["200"]!["content"]![mediaType]!["schema"]!;
            Assert.Equal(("string", "binary"), (schema["type"]!.GetValue<string>(), schema["format"]!.GetValue<string>()));
        }

        string upload = paths["/api/v1/artifacts"]!["post"]!["requestBody"]!["content"]!["multipart/form-data"]!["schema"]!["$ref"]!.GetValue<string>();
        JsonNode form = document["components"]!["schemas"]![upload.Split('/')[^1]]!;
        Assert.Equal(["file", "kind", "name"], form["properties"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["model", "dataset"], Enumeration(form["properties"]!["kind"]!));
        Assert.DoesNotContain("\"#/components/schemas/JsonNode\"", document.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Docs_ServeInteractiveHtml()
    {
        HttpResponseMessage response = await _factory.CreateClient().GetAsync("/docs");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        string html = await response.Content.ReadAsStringAsync();
        Assert.Contains("openapi/v1.json", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnreadableJson_IsProblemWithPosition()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsync("/api/v1/audits", new StringContent("{\n  \"modelArtifactId\": \"a\",\n  oops\n}", Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        JsonNode problem = await response.JsonAsync();
        Assert.Contains("line 3", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BrokenSyntaxInsideAValue_IsReportedAsInvalidJsonWithPositionAndReason()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsync("/api/v1/audits", new StringContent("{\"modelArtifactId\": \"x\", \"profileId\": }", Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "body");
        string detail = (await response.JsonAsync())["detail"]!.GetValue<string>();
        Assert.StartsWith("The body is not valid JSON (line 1, byte 39, after $.profileId)", detail, StringComparison.Ordinal);
        Assert.Contains("'}' is an invalid start of a value", detail, StringComparison.Ordinal);
        Assert.DoesNotContain("expected type", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MistypedField_IsFieldError()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsync("/api/v1/audits", new StringContent("{\"modelArtifactId\": 5}", Encoding.UTF8, "application/json"));

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "modelArtifactId");
    }

    [Fact]
    public async Task WrongMediaType_Is415Problem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance)
            .PostAsync("/api/v1/audits", new StringContent("modelArtifactId=a", Encoding.UTF8, "text/plain"));

        await response.AssertProblemAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [InlineData(null, "No API key was sent")]
    [InlineData("not-a-key", "unknown or revoked")]
    public async Task Unauthorized_DetailSaysWhichHeaderToSend(string? key, string expected)
    {
        HttpClient client = key is null ? _factory.CreateClient() : _factory.ClientFor(key);

        HttpResponseMessage response = await client.GetAsync("/api/v1/audits");

        await response.AssertProblemAsync(HttpStatusCode.Unauthorized);
        string detail = (await response.JsonAsync())["detail"]!.GetValue<string>();
        Assert.Contains(expected, detail, StringComparison.Ordinal);
        Assert.Contains("X-Api-Key", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidationMessages_NameFieldsAsClientsSendThem()
    {
        HttpResponseMessage response = await _factory.ClientFor(AuditApiFactory.AcmeCompliance).GetAsync("/api/v1/audits?pageSize=0");

        await response.AssertProblemAsync(HttpStatusCode.BadRequest, "pageSize");
        string body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("page Size", body, StringComparison.Ordinal);
        Assert.Contains("'pageSize'", body, StringComparison.Ordinal);
    }
}
