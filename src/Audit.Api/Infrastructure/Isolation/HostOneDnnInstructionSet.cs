using Audit.Evaluators.Runtime;
using Choosing = Audit.Evaluators.Runtime.OneDnnInstructionSetSelection;

namespace Audit.Api.Infrastructure.Isolation;

/// <summary>
/// The service hosts' start-up choice of oneDNN's instruction set (<see cref="Choosing"/>), checked in children of
/// the service's own program (Audit.Api), whichever host runs it (the API, the worker, a test host).
/// </summary>
public static class HostOneDnnInstructionSet
{
    /// <summary>The argument that turns this program into a check child (<see cref="OneDnnInstructionSet.RunCheckChild"/>).</summary>
    public const string ChildArgument = Choosing.ChildArgument;

    // One choice per process, as oneDNN reads its limit once per process: test hosts start the program many times in
    // one process, and only the first start can still choose.
    private static readonly Lazy<OneDnnInstructionSetChoice> Chosen =
        new(() => Choosing.BeforeLibTorchLoads(typeof(HostOneDnnInstructionSet).Assembly), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Chooses (the first call) and returns the limit this process runs with. Call at the top of a host's entry point,
    /// after <see cref="OpenMpWaitPolicy.PreferPassive"/> and before anything touches TorchSharp.
    /// </summary>
    public static OneDnnInstructionSetChoice BeforeLibTorchLoads() => Chosen.Value;
}
