using System.Runtime.CompilerServices;
using Audit.Evaluators.Runtime;

namespace Audit.Api.Tests;

/// <summary>
/// Runs the service's convolution-kernel check (<see cref="ConvolutionKernelCheck"/>) when this test assembly loads,
/// before any test trains a fixture or computes gradients with libtorch directly: on a processor whose oneDNN
/// convolutions are wrong, tests would otherwise compare right results with wrong ones.
/// </summary>
internal static class CorrectConvolutionKernels
{
#pragma warning disable CA2255 // A test assembly, not a library: the check must precede every test's first tensor.
    [ModuleInitializer]
    internal static void Check() => ConvolutionKernelCheck.EnsureVerified();
#pragma warning restore CA2255
}
