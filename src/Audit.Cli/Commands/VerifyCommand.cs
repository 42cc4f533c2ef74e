using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Cli.Verification;
using Spectre.Console;

namespace Audit.Cli.Commands;

/// <summary><c>audit verify report.pdf --root root.pem [--log URL]</c>: checks a report with no trust in the service's own verifier.</summary>
internal static class VerifyCommand
{
    public static Command Create(CliContext context, GlobalOptions global)
    {
        var file = new Argument<FileInfo>("report") { Description = "The signed PDF report." };
        var root = new Option<FileInfo>("--root") { Description = "PEM file with the root certificate(s) to trust, and nothing else.", Required = true };
        var log = new Option<string?>("--log") { Description = "Base URL of the service whose transparency log must hold the report (e.g. http://127.0.0.1:5080)." };
        var treeHead = new Option<FileInfo?>("--tree-head") { Description = "A file pinning the last tree head seen: checked for consistency with the current one, then updated." };
        var command = new Command("verify", "Verify a signed report offline: byte range, CMS signature, message digest, chain to --root, and (with --log) its transparency-log inclusion.")
        {
            file, root, log, treeHead,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var report = await VerifyAsync(context, parse.GetRequiredValue(file), parse.GetRequiredValue(root), LogUrl(parse.GetValue(log)), parse.GetValue(treeHead), parse.GetValue(global.Config), cancellationToken);
            if (parse.GetValue(global.Json))
            {
                await context.Out.WriteLineAsync(ToJson(report).ToJsonString(CliJson.Indented));
            }
            else
            {
                Render(context.Console, report);
            }

            return report.ExitCode;
        });
        return command;
    }

    private static Uri? LogUrl(string? value) =>
        value is null ? null
        : Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https" ? url
        : throw new CliException($"--log '{value}' is not an http(s) URL.", ExitCodes.CouldNotCheck);

    internal static async Task<VerificationReport> VerifyAsync(
        CliContext context, FileInfo file, FileInfo rootFile, Uri? logUrl, FileInfo? treeHeadFile, string? configPath, CancellationToken cancellationToken)
    {
        byte[] pdf;
        var roots = new X509Certificate2Collection();
        try
        {
            pdf = await File.ReadAllBytesAsync(file.FullName, cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Unchecked(file, "file", $"Could not read {file.FullName}: {ex.Message}");
        }

        try
        {
            roots.ImportFromPemFile(rootFile.FullName);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            return Unchecked(file, "root", $"Could not read the root certificate {rootFile.FullName}: {ex.Message}");
        }

        if (roots.Count == 0)
        {
            return Unchecked(file, "root", $"{rootFile.FullName} holds no PEM certificate.");
        }

        var signature = PdfSignatureReader.Read(pdf);
        if (signature is null)
        {
            return Unchecked(file, SignatureVerifier.Signature, "The file carries no PDF signature (no /ByteRange): there is nothing to verify.");
        }

        var outcome = SignatureVerifier.Verify(pdf, signature, roots);
        var checks = outcome.Checks.ToList();
        LogEvidence? evidence = null;
        if (logUrl is not null)
        {
            var reportId = ReadReportId(signature.ClaimsJson);
            var settings = TryResolveKey(context, configPath);
            using var http = context.CreateHttpClient(logUrl);
            var checker = new TransparencyChecker(http, roots, settings);
            var pinned = ReadPinnedHead(treeHeadFile);
            var log = await checker.CheckAsync(outcome.ReportSha256, reportId, pinned, cancellationToken);
            checks.AddRange(log.Checks);
            evidence = log.Evidence;
            if (treeHeadFile is not null && log.CurrentHead is not null && log.Checks.All(c => c.Status == CheckStatus.Passed))
            {
                // Only a head that verified and extends the pinned one replaces it.
                await File.WriteAllTextAsync(treeHeadFile.FullName, log.CurrentHead.ToJsonString(), cancellationToken);
            }
        }

        return new VerificationReport(file.FullName, checks, outcome.Signer?.Subject, signature.SigningTime, outcome.ReportSha256, signature.ClaimsJson, evidence);
    }

    private static VerificationReport Unchecked(FileInfo file, string name, string detail) =>
        new(file.FullName, [Check.Unavailable(name, detail)], null, null, null, null, null);

    private static string? TryResolveKey(CliContext context, string? configPath)
    {
        try
        {
            return CliSettings.Resolve(context, null, configPath).ApiKey;
        }
        catch (CliException)
        {
            // A broken config file only costs the receipt fallback; the public lookup needs no key.
            return null;
        }
    }

    private static JsonObject? ReadPinnedHead(FileInfo? file)
    {
        if (file is null || !file.Exists)
        {
            return null;
        }

        try
        {
            return JsonNode.Parse(File.ReadAllText(file.FullName)) as JsonObject
                ?? throw new CliException($"{file.FullName} does not hold a tree head.", ExitCodes.CouldNotCheck);
        }
        catch (JsonException ex)
        {
            throw new CliException($"{file.FullName} does not hold a tree head: {ex.Message}", ExitCodes.CouldNotCheck);
        }
    }

    private static string? ReadReportId(string? claimsJson)
    {
        if (claimsJson is null)
        {
            return null;
        }

        try
        {
            return (JsonNode.Parse(claimsJson) as JsonObject)?["reportId"]?.GetValue<string>();
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    internal static JsonObject ToJson(VerificationReport report)
    {
        JsonNode? claims = null;
        try
        {
            claims = report.ClaimsJson is null ? null : JsonNode.Parse(report.ClaimsJson);
        }
        catch (JsonException)
        {
            claims = report.ClaimsJson;
        }

        return new JsonObject
        {
            ["file"] = report.File,
            ["valid"] = report.ExitCode == ExitCodes.Valid,
            ["outcome"] = Outcome(report.ExitCode),
            ["exitCode"] = report.ExitCode,
            ["checks"] = new JsonArray([.. report.Checks.Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name,
                ["status"] = JsonNamingPolicy.CamelCase.ConvertName(c.Status.ToString()),
                ["detail"] = c.Detail,
            })]),
            ["signer"] = report.Signer,
            ["signingTime"] = report.SigningTime,
            ["reportSha256"] = report.ReportSha256,
            ["claims"] = claims,
            ["log"] = report.Log is { } log ? new JsonObject
            {
                ["index"] = log.Index,
                ["treeSize"] = log.TreeSize,
                ["rootHash"] = log.RootHash,
                ["timestamp"] = log.Timestamp,
            } : null,
        };
    }

    private static string Outcome(int exitCode) => exitCode switch
    {
        ExitCodes.Valid => "valid",
        ExitCodes.Invalid => "invalid",
        _ => "not-checked",
    };

    private static void Render(IAnsiConsole console, VerificationReport report)
    {
        var headline = report.ExitCode switch
        {
            ExitCodes.Valid => "[green bold]VALID[/]",
            ExitCodes.Invalid => "[red bold]INVALID[/]",
            _ => "[yellow bold]NOT CHECKED[/]",
        };
        console.MarkupLine($"{Markup.Escape(report.File)}: {headline}");
        foreach (var check in report.Checks)
        {
            var mark = check.Status switch
            {
                CheckStatus.Passed => "[green]ok  [/]",
                CheckStatus.Failed => "[red]FAIL[/]",
                _ => "[yellow]??  [/]",
            };
            console.MarkupLine($"  {mark} {Markup.Escape(check.Name)}: {Markup.Escape(check.Detail)}");
        }

        if (report.Signer is not null)
        {
            console.MarkupLine($"  signer: {Markup.Escape(report.Signer)}; signed {report.SigningTime:u}");
        }

        if (ToJson(report)["claims"] is JsonObject claims)
        {
            // The claims come from inside the signed bytes: what the signature vouches for, one per line.
            console.MarkupLine("  claims (signed):");
            foreach (var (name, value) in claims)
            {
                console.MarkupLine($"    {Markup.Escape(name)}: {Markup.Escape(value?.ToString() ?? "null")}");
            }
        }

        if (report.Log is { } log)
        {
            console.MarkupLine($"  log: entry {log.Index} in tree of size {log.TreeSize}, root {log.RootHash} ({log.Timestamp:u})");
        }
    }
}
