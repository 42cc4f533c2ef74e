using System.CommandLine;

namespace Audit.Cli.Commands;

/// <summary>Options every command understands.</summary>
internal sealed class GlobalOptions
{
    public Option<string?> Url { get; } = new("--url") { Description = "Service base URL (else AUDIT_URL, the config file's url, or " + CliSettings.DefaultUrl + ").", Recursive = true };

    public Option<string?> Config { get; } = new("--config") { Description = "Config file with url and apiKey (default ~/.config/audit/config.json).", Recursive = true };

    public Option<bool> Json { get; } = new("--json") { Description = "Machine-readable JSON on standard output.", Recursive = true };

    public ApiClient CreateClient(CliContext context, System.CommandLine.ParseResult parse)
    {
        var settings = CliSettings.Resolve(context, parse.GetValue(Url), parse.GetValue(Config));
        if (settings.ApiKey is null)
        {
            throw new CliException("No API key: set AUDIT_API_KEY or put apiKey in the config file.", ExitCodes.CouldNotCheck);
        }

        return new ApiClient(context.CreateHttpClient(settings.BaseUrl), settings.ApiKey);
    }
}
