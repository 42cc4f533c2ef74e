using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Audit.Api.Tests.Infrastructure;

public static class ApiClientExtensions
{
    public static async Task<HttpResponseMessage> UploadAsync(this HttpClient client, byte[] content, string kind, string fileName = "model.onnx", string? name = null)
    {
        using var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(content);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        form.Add(new StringContent(kind), "kind");
        if (name is not null)
        {
            form.Add(new StringContent(name), "name");
        }

        return await client.PostAsync("/api/v1/artifacts", form);
    }

    public static async Task<string> UploadIdAsync(this HttpClient client, byte[] content, string kind, string fileName = "model.onnx")
    {
        HttpResponseMessage response = await client.UploadAsync(content, kind, fileName);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.JsonAsync())["id"]!.GetValue<string>();
    }

    public static async Task<HttpResponseMessage> SubmitAsync(this HttpClient client, object body, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/audits") { Content = JsonContent.Create(body) };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

        return await client.SendAsync(request);
    }

    public static async Task<JsonNode> JsonAsync(this HttpResponseMessage response)
    {
        string text = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(text) ?? throw new JsonException("empty body");
    }

    /// <summary>Polls an audit until it reaches a terminal status (or the deadline passes).</summary>
    public static async Task<JsonNode> WaitForAuditAsync(this HttpClient client, string id, TimeSpan? timeout = null)
    {
        var deadline = Task.Delay(timeout ?? TimeSpan.FromSeconds(120));
        while (true)
        {
            JsonNode audit = await (await client.GetAsync($"/api/v1/audits/{id}")).JsonAsync();
            string status = audit["status"]!.GetValue<string>();
            if (status is "succeeded" or "failed" or "cancelled")
            {
                return audit;
            }

            if (deadline.IsCompleted)
            {
                throw new TimeoutException($"Audit {id} still {status}: {audit.ToJsonString()}");
            }

            await Task.Delay(100);
        }
    }

    public static async Task AssertProblemAsync(this HttpResponseMessage response, HttpStatusCode status, string? field = null)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonNode problem = JsonNode.Parse(body)!;
        Assert.Equal((int)status, problem["status"]!.GetValue<int>());
        Assert.DoesNotContain("   at ", body, StringComparison.Ordinal);
        if (field is not null)
        {
            JsonObject errors = problem["errors"]!.AsObject();
            Assert.True(errors.ContainsKey(field), $"No error for '{field}' in {body}");
        }
    }
}
