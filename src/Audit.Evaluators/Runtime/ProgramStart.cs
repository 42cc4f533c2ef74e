using System.Diagnostics;
using System.Reflection;

namespace Audit.Evaluators.Runtime;

/// <summary>
/// Starts a .NET program of this repository as a child process with the given arguments, however the parent was
/// started: from the program's apphost, as <c>dotnet Program.dll</c>, from another program's apphost that carries the
/// program's assembly beside its own (the worker host carries Audit.Api.dll), or from a test host. Children read their
/// mode from the first argument before anything else runs.
/// </summary>
public static class ProgramStart
{
    /// <summary>A start of <paramref name="program"/> with redirected output and no shell, ready for <see cref="Process.Start(ProcessStartInfo)"/>.</summary>
    public static ProcessStartInfo For(Assembly program, params IEnumerable<string> arguments)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentNullException.ThrowIfNull(arguments);
        string assembly = program.Location;
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Under `dotnet Program.dll` (and test hosts) the process path is the dotnet host; from the program's own
        // apphost it is the program itself, which takes the arguments directly; any other program's apphost runs the
        // assembly through the dotnet host.
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
