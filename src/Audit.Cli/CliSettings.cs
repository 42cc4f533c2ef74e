using System.Text.Json;

namespace Audit.Cli;

/// <summary>Where the service is and which key to send: flags, then environment, then the config file, then defaults.</summary>
internal sealed record CliSettings(Uri BaseUrl, string? ApiKey)
{
    public const string DefaultUrl = "http://127.0.0.1:5080";

    public static CliSettings Resolve(CliContext context, string? urlOption, string? configOption)
    {
        var configPath = configOption ?? DefaultConfigPath(context);
        string? fileUrl = null, fileKey = null;
        if (File.Exists(configPath))
        {
            try
            {
                using var document = JsonDocument.Parse(File.ReadAllText(configPath));
                fileUrl = document.RootElement.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String ? u.GetString() : null;
                fileKey = document.RootElement.TryGetProperty("apiKey", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            }
            catch (JsonException ex)
            {
                throw new CliException($"The config file {configPath} is not valid JSON: {ex.Message}", ExitCodes.CouldNotCheck);
            }
        }
        else if (configOption is not null)
        {
            throw new CliException($"The config file {configOption} does not exist.", ExitCodes.CouldNotCheck);
        }

        var url = NonEmpty(urlOption) ?? NonEmpty(context.Environment("AUDIT_URL")) ?? NonEmpty(fileUrl) ?? DefaultUrl;
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUrl) || baseUrl.Scheme is not ("http" or "https"))
        {
            throw new CliException($"'{url}' is not an http(s) URL.", ExitCodes.CouldNotCheck);
        }

        return new CliSettings(baseUrl, NonEmpty(context.Environment("AUDIT_API_KEY")) ?? NonEmpty(fileKey));
    }

    private static string DefaultConfigPath(CliContext context)
    {
        var configHome = NonEmpty(context.Environment("XDG_CONFIG_HOME")) ?? Path.Combine(context.HomeDirectory, ".config");
        return Path.Combine(configHome, "audit", "config.json");
    }

    private static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();
}

/// <summary>A failure the command reports in one line and ends with <see cref="ExitCode"/>.</summary>
internal sealed class CliException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
