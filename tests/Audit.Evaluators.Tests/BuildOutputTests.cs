using System.Runtime.InteropServices;

namespace Audit.Evaluators.Tests;

/// <summary>
/// The build copies only the building machine's native libraries into an output folder
/// (build/HostPlatformNativeAssets.targets): libtorch for every platform made a fresh clone's build 13 GB, and CI ran
/// out of disk. This test project's own output is such a folder.
/// </summary>
public sealed class BuildOutputTests
{
    [Fact]
    public void OutputFolder_CarriesOnlyThisPlatformsNativeLibraries()
    {
        string runtimes = Path.Combine(AppContext.BaseDirectory, "runtimes");
        string host = RuntimeInformation.RuntimeIdentifier;
        string family = host.Split('-')[0];
        string architecture = host[(host.LastIndexOf('-') + 1)..];

        // Folders with files: an incremental build after the change deletes the other platforms' files (MSBuild's
        // incremental clean) but leaves their folders behind, empty.
        string[] folders = [.. Directory.GetDirectories(runtimes)
            .Where(folder => Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Any())
            .Select(Path.GetFileName).OfType<string>()];

        Assert.Contains(host, folders);
        string[] foreign = [.. folders.Where(rid => rid != family
            && !(rid.Split('-')[0] == family && rid.EndsWith($"-{architecture}", StringComparison.Ordinal)))];
        Assert.Empty(foreign);
    }

    [Fact]
    public void OutputFolder_KeepsLibTorchForThisPlatform()
    {
        // The filter must not take what this machine loads: TorchSharp's native libraries for the host are there.
        string native = Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");
        string torch = OperatingSystem.IsWindows() ? "torch_cpu.dll" : OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";

        Assert.True(File.Exists(Path.Combine(native, torch)), $"{torch} is missing from {native}.");
    }
}
