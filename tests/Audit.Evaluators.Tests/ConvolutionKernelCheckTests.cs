using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using Xunit.Abstractions;

namespace Audit.Evaluators.Tests;

[Collection(NativeTorch.Collection)]
public sealed class ConvolutionKernelCheckTests(ITestOutputHelper output)
{
    [Fact]
    public void FloatConvolutions_MatchFloat64_OnceTheCheckHasRun()
    {
        ConvolutionKernels kernels = ConvolutionKernelCheck.EnsureVerified();

        (double error, string worstCase) = ConvolutionKernelCheck.WorstRelativeError();

        output.WriteLine($"{kernels.Kernels}: {kernels.Detail}; now {error:G3} ({worstCase})");
        Assert.True(error <= ConvolutionKernelCheck.RelativeTolerance, $"relative error {error} at {worstCase}");
    }

    [Fact]
    public void TheVerdict_IsTheProcesssOne_AndReportedWithTheRuntime()
    {
        ConvolutionKernels first = ConvolutionKernelCheck.EnsureVerified();

        Assert.Same(first, ConvolutionKernelCheck.EnsureVerified());
        Assert.Same(first, TorchRuntimeInfo.Current().ConvolutionKernels);
        Assert.Contains("float64", first.Detail, StringComparison.Ordinal);
    }
}
