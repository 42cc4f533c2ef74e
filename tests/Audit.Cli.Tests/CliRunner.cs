using Audit.Cli;
using Spectre.Console;

namespace Audit.Cli.Tests;

/// <summary>What one in-process run of the CLI printed and returned.</summary>
public sealed record CliRun(int ExitCode, string Output)
{
    public override string ToString() => $"exit {ExitCode}:\n{Output}";
}

/// <summary>Runs the <c>audit</c> command tree in process, with the given environment and HTTP handler.</summary>
internal static class CliRunner
{
    public static async Task<CliRun> RunAsync(HttpMessageHandler? handler, IReadOnlyDictionary<string, string?> environment, string home, params string[] args)
    {
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 400;
        var context = new CliContext(console, writer, writer, name => environment.GetValueOrDefault(name), home, TimeProvider.System, handler);
        var exit = await CliApp.RunAsync(args, context, CancellationToken.None);
        return new CliRun(exit, writer.ToString());
    }
}
