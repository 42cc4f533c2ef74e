using System.Diagnostics;

namespace Audit.Api.Infrastructure.Isolation;

/// <summary>
/// Starts this service's own program (Audit.Api) as a child process with the given arguments, whichever host runs:
/// the API's apphost, <c>dotnet Audit.Api.dll</c>, the worker host (which carries Audit.Api.dll beside its own) or a
/// test host. Children read their mode from the first argument before anything else runs (Program.cs).
/// </summary>
internal static class SameProgram
{
    /// <summary>A start with redirected output and no shell, ready for <see cref="Process.Start(ProcessStartInfo)"/>.</summary>
    public static ProcessStartInfo StartInfo(params IEnumerable<string> arguments)
    {
        string assembly = typeof(SameProgram).Assembly.Location;
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet Audit.Api.dll` (and test hosts) the process path is the dotnet host; from an apphost it is
        // the program itself, which takes the arguments directly; any other program (the worker's apphost) runs the
        // API's assembly through the dotnet host.
        if (Path.GetFileNameWithoutExtension(start.FileName) == "dotnet")
        {
            start.ArgumentList.Add(assembly);
        }
        else if (!string.Equals(Path.GetFileNameWithoutExtension(start.FileName), Path.GetFileNameWithoutExtension(assembly), StringComparison.Ordinal))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(assembly);
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return start;
    }
}
