using System.Diagnostics;
using Audit.Evaluators.Runtime;

namespace Audit.Api.Infrastructure.Isolation;

/// <summary>
/// Starts this service's own program (Audit.Api) as a child process with the given arguments, whichever host runs
/// (<see cref="ProgramStart"/>). Children read their mode from the first argument before anything else runs (Program.cs).
/// </summary>
internal static class SameProgram
{
    /// <summary>A start with redirected output and no shell, ready for <see cref="Process.Start(ProcessStartInfo)"/>.</summary>
    public static ProcessStartInfo StartInfo(params IEnumerable<string> arguments) =>
        ProgramStart.For(typeof(SameProgram).Assembly, arguments);
}
