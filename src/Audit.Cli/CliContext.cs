using Spectre.Console;

namespace Audit.Cli;

/// <summary>
/// Everything the commands touch outside themselves, so tests can run them in process: the console, the raw output
/// (JSON must not be wrapped by the console's width), environment variables, the home directory, the clock and an
/// optional HTTP handler (a WebApplicationFactory's test server, or a stub).
/// </summary>
internal sealed record CliContext(
    IAnsiConsole Console,
    TextWriter Out,
    TextWriter Error,
    Func<string, string?> Environment,
    string HomeDirectory,
    TimeProvider Time,
    HttpMessageHandler? Handler = null)
{
    public static CliContext FromProcess()
    {
        var console = AnsiConsole.Console;
        if (System.Console.IsOutputRedirected)
        {
            // Piped into a file or grep: one check per line, not wrapped at a default 80 columns.
            console.Profile.Width = 4096;
        }

        return new(
            console,
            System.Console.Out,
            System.Console.Error,
            System.Environment.GetEnvironmentVariable,
            System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile),
            TimeProvider.System);
    }

    /// <summary>An HttpClient for <paramref name="baseUrl"/>; the handler, when given, is shared and not disposed with it.</summary>
    public HttpClient CreateHttpClient(Uri baseUrl)
    {
        var client = Handler is null ? new HttpClient() : new HttpClient(Handler, disposeHandler: false);
        // Relative paths resolve under the base only when it ends with a slash (a service mounted below a path).
        client.BaseAddress = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
        client.Timeout = TimeSpan.FromMinutes(5);
        return client;
    }
}
