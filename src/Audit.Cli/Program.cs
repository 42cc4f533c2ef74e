namespace Audit.Cli;

/// <summary>The process entry point; a named class (not top-level statements) so tests can load this assembly beside the service's <c>Program</c>.</summary>
internal static class CliEntryPoint
{
    public static async Task<int> Main(string[] args)
    {
        using var cancellation = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cancellation.Cancel();
        };
        return await CliApp.RunAsync(args, CliContext.FromProcess(), cancellation.Token);
    }
}
