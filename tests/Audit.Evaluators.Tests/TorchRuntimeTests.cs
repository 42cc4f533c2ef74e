using Audit.Evaluators.Runtime;
using TorchSharp;

namespace Audit.Evaluators.Tests;

[Collection(NativeTorch.Collection)]
public sealed class TorchRuntimeTests
{
    [Fact]
    public void MatrixProduct_RunsInLibTorch()
    {
        using var scope = torch.NewDisposeScope();
        var a = torch.tensor(new float[] { 1, 2, 3, 4 }, new long[] { 2, 2 });
        var b = torch.tensor(new float[] { 5, 6, 7, 8 }, new long[] { 2, 2 });

        float[] product = torch.matmul(a, b).data<float>().ToArray();

        Assert.Equal(new float[] { 19, 22, 43, 50 }, product);
        Assert.StartsWith("2.", TorchRuntime.Version, StringComparison.Ordinal);
    }
}
