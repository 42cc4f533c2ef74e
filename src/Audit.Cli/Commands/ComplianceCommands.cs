using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Audit.Cli.Commands;

/// <summary>The compliance team's commands: upload artifacts, submit an audit, follow it, fetch its report.</summary>
internal static class ComplianceCommands
{
    private static readonly string[] Terminal = ["succeeded", "failed", "cancelled"];

    public static Command Upload(CliContext context, GlobalOptions global)
    {
        var file = new Argument<FileInfo>("file") { Description = "The ONNX model, or the dataset (safetensors or JSON Lines)." };
        var kind = new Option<string>("--kind") { Description = "model or dataset.", Required = true };
        kind.AcceptOnlyFromAmong("model", "dataset");
        var name = new Option<string?>("--name") { Description = "A display name (defaults to the file name)." };
        var command = new Command("upload", "Upload a model or dataset; prints the artifact id.") { file, kind, name };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = global.CreateClient(context, parse);
            var artifact = await client.UploadAsync(RequireFile(parse.GetRequiredValue(file)), parse.GetRequiredValue(kind), parse.GetValue(name), cancellationToken);
            await WriteAsync(context, parse.GetValue(global.Json), artifact, Text(artifact, "id"));
            return ExitCodes.Valid;
        });
        return command;
    }

    public static Command Submit(CliContext context, GlobalOptions global)
    {
        var model = new Option<string>("--model") { Description = "An ONNX file to upload, or an artifact id (art_…).", Required = true };
        var dataset = new Option<string?>("--dataset") { Description = "A dataset file to upload, or an artifact id." };
        var profile = new Option<string>("--profile") { Description = "The audit profile id (e.g. trojan-scan).", Required = true };
        var version = new Option<string?>("--profile-version") { Description = "A profile version (default: the latest)." };
        var wait = new Option<bool>("--wait") { Description = "Follow the audit with a progress bar until it finishes, then print the verdict and controls." };
        var command = new Command("submit", "Submit an audit (uploading files given as paths); prints the audit id.") { model, dataset, profile, version, wait };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var json = parse.GetValue(global.Json);
            using var client = global.CreateClient(context, parse);
            var modelId = await ArtifactIdAsync(context, client, parse.GetRequiredValue(model), "model", json, cancellationToken);
            var datasetId = parse.GetValue(dataset) is { } d ? await ArtifactIdAsync(context, client, d, "dataset", json, cancellationToken) : null;
            var audit = await client.SubmitAsync(modelId, datasetId, parse.GetRequiredValue(profile), parse.GetValue(version), cancellationToken);
            var id = Text(audit, "id");
            if (!parse.GetValue(wait))
            {
                await WriteAsync(context, json, audit, id);
                return ExitCodes.Valid;
            }

            if (!json)
            {
                context.Console.MarkupLine($"Audit [bold]{Markup.Escape(id)}[/] submitted.");
            }

            var done = await WaitAsync(context, client, id, showProgress: !json, cancellationToken);
            return await FinishAsync(context, json, done);
        });
        return command;
    }

    public static Command Status(CliContext context, GlobalOptions global)
    {
        var id = new Argument<string>("audit-id") { Description = "The audit id (aud_…)." };
        var command = new Command("status", "Show an audit's status, progress, verdict and controls.") { id };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = global.CreateClient(context, parse);
            var audit = await client.GetAuditAsync(parse.GetRequiredValue(id), cancellationToken);
            if (parse.GetValue(global.Json))
            {
                await context.Out.WriteLineAsync(audit.ToJsonString(CliJson.Indented));
            }
            else
            {
                RenderAudit(context.Console, audit);
            }

            return ExitCodes.Valid;
        });
        return command;
    }

    public static Command Report(CliContext context, GlobalOptions global)
    {
        var id = new Argument<string>("audit-id") { Description = "The audit id (aud_…)." };
        var output = new Option<FileInfo>("--output", "-o") { Description = "Where to write the signed PDF.", Required = true };
        var command = new Command("report", "Download an audit's signed PDF report.") { id, output };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = global.CreateClient(context, parse);
            var pdf = await client.GetReportAsync(parse.GetRequiredValue(id), cancellationToken);
            var path = parse.GetRequiredValue(output).FullName;
            await File.WriteAllBytesAsync(path, pdf, cancellationToken);
            var sha256 = Convert.ToHexStringLower(SHA256.HashData(pdf));
            var result = new JsonObject { ["path"] = path, ["sizeBytes"] = pdf.Length, ["sha256"] = sha256 };
            await WriteAsync(context, parse.GetValue(global.Json), result, $"{path} ({pdf.Length} bytes, SHA-256 {sha256})");
            return ExitCodes.Valid;
        });
        return command;
    }

    private static async Task<string> ArtifactIdAsync(CliContext context, ApiClient client, string value, string kind, bool json, CancellationToken cancellationToken)
    {
        if (!File.Exists(value))
        {
            return value.StartsWith("art_", StringComparison.Ordinal)
                ? value
                : throw new CliException($"--{kind} '{value}' is neither a file nor an artifact id (art_…).", ExitCodes.CouldNotCheck);
        }

        var artifact = await client.UploadAsync(value, kind, null, cancellationToken);
        var id = Text(artifact, "id");
        if (!json)
        {
            context.Console.MarkupLine($"Uploaded {Markup.Escape(Path.GetFileName(value))} as {kind} [bold]{Markup.Escape(id)}[/].");
        }

        return id;
    }

    private static async Task<JsonObject> WaitAsync(CliContext context, ApiClient client, string id, bool showProgress, CancellationToken cancellationToken)
    {
        var interval = TimeSpan.FromMilliseconds(500);
        if (!showProgress)
        {
            while (true)
            {
                var audit = await client.GetAuditAsync(id, cancellationToken);
                if (Terminal.Contains(Text(audit, "status")))
                {
                    return audit;
                }

                await Task.Delay(interval, context.Time, cancellationToken);
            }
        }

        JsonObject? last = null;
        await context.Console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"Audit {id}", maxValue: 1.0);
                while (true)
                {
                    last = await client.GetAuditAsync(id, cancellationToken);
                    var status = Text(last, "status");
                    task.Description = $"Audit {id}: {status}";
                    task.Value = Math.Clamp(last["progress"]?.GetValue<double>() ?? 0, 0, 1);
                    if (Terminal.Contains(status))
                    {
                        if (status == "succeeded")
                        {
                            task.Value = 1;
                        }

                        task.StopTask();
                        return;
                    }

                    await Task.Delay(interval, context.Time, cancellationToken);
                }
            });
        return last!;
    }

    private static async Task<int> FinishAsync(CliContext context, bool json, JsonObject audit)
    {
        if (json)
        {
            await context.Out.WriteLineAsync(audit.ToJsonString(CliJson.Indented));
        }
        else
        {
            RenderAudit(context.Console, audit);
        }

        // The audit ran: its verdict (even "fail") is the answer. Failed or cancelled means there is no answer.
        return Text(audit, "status") == "succeeded" ? ExitCodes.Valid : ExitCodes.Invalid;
    }

    private static void RenderAudit(IAnsiConsole console, JsonObject audit)
    {
        var status = Text(audit, "status");
        var progress = audit["progress"]?.GetValue<double>() ?? 0;
        console.MarkupLine($"Audit [bold]{Markup.Escape(Text(audit, "id"))}[/]: {Markup.Escape(status)} ({(progress * 100).ToString("0", CultureInfo.InvariantCulture)}%)");
        if (audit["profile"] is JsonObject profile)
        {
            console.MarkupLine($"  profile: {Markup.Escape(profile["id"]?.ToString() ?? "")} {Markup.Escape(profile["version"]?.ToString() ?? "")}");
        }

        if (audit["verdict"]?.GetValue<string>() is { } verdict)
        {
            console.MarkupLine($"  verdict: {Colour(verdict)}");
        }

        if (audit["error"]?.ToString() is { Length: > 0 } error)
        {
            console.MarkupLine($"  error: [red]{Markup.Escape(error)}[/]");
        }

        if (audit["controls"] is JsonArray { Count: > 0 } controls)
        {
            var table = new Table().AddColumns("control", "verdict", "reason");
            foreach (var control in controls.OfType<JsonObject>())
            {
                table.AddRow(
                    new Text(control["controlId"]?.ToString() ?? ""),
                    new Markup(Colour(control["verdict"]?.ToString() ?? "")),
                    new Text(control["reason"]?.ToString() ?? ""));
            }

            console.Write(table);
        }
    }

    private static string Colour(string verdict) => verdict switch
    {
        "pass" => "[green]pass[/]",
        "fail" => "[red]fail[/]",
        _ => $"[yellow]{Markup.Escape(verdict)}[/]",
    };

    private static async Task WriteAsync(CliContext context, bool json, JsonObject body, string line)
    {
        if (json)
        {
            await context.Out.WriteLineAsync(body.ToJsonString(CliJson.Indented));
        }
        else
        {
            await context.Out.WriteLineAsync(line);
        }
    }

    private static string RequireFile(FileInfo file) =>
        file.Exists ? file.FullName : throw new CliException($"{file.FullName} does not exist.", ExitCodes.CouldNotCheck);

    private static string Text(JsonObject json, string name) =>
        json[name]?.GetValue<string>() ?? throw new CliException($"The service's answer has no '{name}'.", ExitCodes.CouldNotCheck);
}
