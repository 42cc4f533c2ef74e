using System.CommandLine;
using Audit.Cli.Commands;
using Spectre.Console;

namespace Audit.Cli;

/// <summary>The <c>audit</c> command tree, runnable in process with any <see cref="CliContext"/>.</summary>
internal static class CliApp
{
    public static RootCommand Build(CliContext context)
    {
        var global = new GlobalOptions();
        var root = new RootCommand("Audit: verify signed audit reports, and submit audits to the Audit service.")
        {
            global.Url,
            global.Config,
            global.Json,
            VerifyCommand.Create(context, global),
            ComplianceCommands.Upload(context, global),
            ComplianceCommands.Submit(context, global),
            ComplianceCommands.Status(context, global),
            ComplianceCommands.Report(context, global),
        };
        return root;
    }

    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken)
    {
        var parse = Build(context).Parse(args);
        var invocation = new InvocationConfiguration { Output = context.Out, Error = context.Error, EnableDefaultExceptionHandler = false };
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors)
            {
                await context.Error.WriteLineAsync(error.Message);
            }

            await context.Error.WriteLineAsync("Run 'audit --help' for usage.");
            return ExitCodes.CouldNotCheck;
        }

        try
        {
            return await parse.InvokeAsync(invocation, cancellationToken);
        }
        catch (CliException ex)
        {
            context.Console.MarkupLine($"[red]error:[/] {Markup.Escape(ex.Message)}");
            return ex.ExitCode;
        }
        catch (ApiProblemException problem)
        {
            context.Console.MarkupLine($"[red]error {problem.Status}:[/] {Markup.Escape(problem.Title)}");
            if (problem.Detail is not null)
            {
                context.Console.MarkupLine($"  {Markup.Escape(problem.Detail)}");
            }

            foreach (var (field, messages) in problem.Errors)
            {
                foreach (var message in messages)
                {
                    context.Console.MarkupLine($"  {Markup.Escape(field)}: {Markup.Escape(message)}");
                }
            }

            return ExitCodes.Invalid;
        }
        catch (HttpRequestException ex)
        {
            context.Console.MarkupLine($"[red]error:[/] the service could not be reached: {Markup.Escape(ex.Message)}");
            return ExitCodes.CouldNotCheck;
        }
        catch (IOException ex)
        {
            context.Console.MarkupLine($"[red]error:[/] {Markup.Escape(ex.Message)}");
            return ExitCodes.CouldNotCheck;
        }
    }
}
