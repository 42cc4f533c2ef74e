using System.Diagnostics;

namespace Audit.Api.Tests.Support;

/// <summary>
/// Runs the Debian tools regulators use (pdfsig, qpdf, openssl, pdftotext). They are required, not optional: the
/// test command installs poppler-utils, qpdf and openssl, and a missing tool fails the test loudly.
/// </summary>
internal static class Tools
{
    public static (int ExitCode, string Output) Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(60_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} did not finish within a minute.");
        }

        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>
    /// <c>openssl cms -verify</c> of a detached CMS over <paramref name="content"/>, trusting <paramref name="rootPemPath"/>,
    /// exactly as docs/verification.md tells a regulator to run it.
    /// </summary>
    public static (int ExitCode, string Output) OpensslCmsVerify(string directory, byte[] content, byte[] cms, string rootPemPath)
    {
        var stem = Path.Combine(directory, Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(stem + ".bin", content);
        File.WriteAllBytes(stem + ".der", cms);
        return Run("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", stem + ".der",
            "-content", stem + ".bin", "-CAfile", rootPemPath, "-out", "/dev/null");
    }
}
