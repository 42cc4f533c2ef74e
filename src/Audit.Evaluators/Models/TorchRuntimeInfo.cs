using System.Reflection;
using TorchSharp;

namespace Audit.Evaluators.Models;

/// <summary>
/// The tensor library a probe ran on, as a report's reproducibility section names it: the same seed gives the same
/// findings only on the same TorchSharp and libtorch builds with the same intra-op thread count (reductions split
/// across threads add in another order).
/// </summary>
/// <param name="TorchSharpVersion">TorchSharp's assembly informational version.</param>
/// <param name="LibTorchVersion">The native libtorch version TorchSharp loaded.</param>
/// <param name="Threads">libtorch's intra-op thread count in this process.</param>
/// <param name="ConvolutionKernels">Which CPU kernels the float32 convolutions use here and why (<see cref="Runtime.ConvolutionKernelCheck"/>).</param>
public sealed record TorchRuntimeInfo(string TorchSharpVersion, string LibTorchVersion, int Threads, Runtime.ConvolutionKernels ConvolutionKernels)
{
    /// <summary>Reads the versions and thread count of the libtorch this process loaded (loading it if needed).</summary>
    public static TorchRuntimeInfo Current()
    {
        string managed = typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? typeof(torch).Assembly.GetName().Version?.ToString()
            ?? "unknown";
        return new TorchRuntimeInfo(managed.Split('+')[0], torch.__version__, torch.get_num_threads(), Runtime.ConvolutionKernelCheck.EnsureVerified());
    }
}
