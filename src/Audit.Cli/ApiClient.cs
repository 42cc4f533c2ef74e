using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Audit.Cli;

/// <summary>An RFC 9457 problem the API answered: shown as title, detail and field errors.</summary>
internal sealed class ApiProblemException(int status, string title, string? detail, IReadOnlyDictionary<string, string[]> errors)
    : Exception($"{status} {title}{(detail is null ? "" : ": " + detail)}")
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public string? Detail { get; } = detail;

    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>The REST calls the compliance commands make. The API key travels in X-Api-Key and is never printed.</summary>
internal sealed class ApiClient(HttpClient http, string? apiKey) : IDisposable
{
    public async Task<JsonObject> UploadAsync(string path, string kind, string? name, CancellationToken cancellationToken)
    {
        await using var file = File.OpenRead(path);
        using var form = new MultipartFormDataContent();
        using var content = new StreamContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, "file", Path.GetFileName(path));
        using var kindContent = new StringContent(kind);
        form.Add(kindContent, "kind");
        using var nameContent = new StringContent(name ?? "");
        if (name is not null)
        {
            form.Add(nameContent, "name");
        }

        return await SendJsonAsync(HttpMethod.Post, "api/v1/artifacts", form, cancellationToken);
    }

    public async Task<JsonObject> SubmitAsync(string model, string? dataset, string profile, string? profileVersion, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["modelArtifactId"] = model, ["profileId"] = profile };
        if (dataset is not null)
        {
            body["datasetArtifactId"] = dataset;
        }

        if (profileVersion is not null)
        {
            body["profileVersion"] = profileVersion;
        }

        using var content = JsonContent.Create(body);
        return await SendJsonAsync(HttpMethod.Post, "api/v1/audits", content, cancellationToken);
    }

    public Task<JsonObject> GetAuditAsync(string auditId, CancellationToken cancellationToken) =>
        SendJsonAsync(HttpMethod.Get, $"api/v1/audits/{Uri.EscapeDataString(auditId)}", null, cancellationToken);

    public async Task<byte[]> GetReportAsync(string auditId, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Get, $"api/v1/audits/{Uri.EscapeDataString(auditId)}/report", null, cancellationToken);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    public void Dispose() => http.Dispose();

    private async Task<JsonObject> SendJsonAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(method, path, content, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return JsonNode.Parse(text) as JsonObject ?? throw new CliException($"{method} {path} answered something other than a JSON object.", ExitCodes.CouldNotCheck);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = content };
        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new CliException($"Could not reach {http.BaseAddress}: {ex.Message}", ExitCodes.CouldNotCheck);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ProblemAsync(response, cancellationToken);
        }
    }

    private static async Task<Exception> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        JsonObject? problem = null;
        try
        {
            problem = JsonNode.Parse(text) as JsonObject;
        }
        catch (JsonException)
        {
            // Not problem+json (a proxy's page, say): fall back to the status line.
        }

        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (problem?["errors"] is JsonObject fields)
        {
            foreach (var (field, messages) in fields)
            {
                errors[field] = messages is JsonArray list ? [.. list.Select(m => m?.ToString() ?? "")] : [messages?.ToString() ?? ""];
            }
        }

        return new ApiProblemException(
            status,
            problem?["title"]?.GetValue<string>() ?? response.ReasonPhrase ?? "Request failed",
            problem?["detail"]?.GetValue<string>(),
            errors);
    }
}
