namespace Audit.Evaluators.Runtime;

/// <summary>
/// The libtorch_cpu files mapped into this process, read from <c>/proc/self/maps</c> (empty where there is none):
/// TorchSharp may load libtorch from a folder of its own, so the copy in use is found here, not by name.
/// </summary>
internal static class MappedLibTorch
{
    /// <summary>Paths of the mapped libtorch_cpu files, each once.</summary>
    public static IEnumerable<string> CpuLibraries()
    {
        const string Maps = "/proc/self/maps";
        return File.Exists(Maps)
            ? File.ReadLines(Maps)
                .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Where(fields => fields.Length >= 6 && Path.GetFileName(fields[5]).StartsWith("libtorch_cpu.", StringComparison.Ordinal))
                .Select(fields => fields[5])
                .Distinct(StringComparer.Ordinal)
            : [];
    }
}
