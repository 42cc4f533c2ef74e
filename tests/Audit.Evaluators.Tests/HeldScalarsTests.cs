using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests;

// These tests compare HeldScalars with the TorchSharp operators it replaces, so they are the one place that calls them.
#pragma warning disable RS0030
public sealed class HeldScalarsTests
{
    private static readonly double[] Numbers = [0.5, -3.25, 1e-6, 7, 1.0 / 3.0, -0.0, 255];

    [Fact]
    public void EveryHeldOperation_GivesTorchSharpsOperatorResult_BitForBit()
    {
        for (int seed = 1; seed <= 12; seed++)
        {
            using var scope = torch.NewDisposeScope();
            using var generator = new Generator((ulong)seed);
            Tensor x = torch.randn([5, 7], generator: generator).mul(torch.rand([5, 7], generator: generator).mul(40));
            Tensor y = torch.randn([5, 7], generator: generator);
            Tensor positive = x.abs().add(0.125);
            Tensor integers = torch.randint(-20, 20, [5, 7], generator: generator);
            double v = Numbers[seed % Numbers.Length];
            long k = (seed % 5) + 1;
            string at = $"seed {seed}, value {v}, integer {k}";

            Same(x + y, x.Add(y), at);
            Same(x.add(y, v), x.Add(y, v), at);
            Same(x + v, x.Add(v), at);
            Same(integers + k, integers.Add(k), at);
            Same(x.clone().add_(y), x.clone().AddInPlace(y), at);
            Same(x.clone().add_(v), x.clone().AddInPlace(v), at);
            Same(x - v, x.Sub(v), at);
            Same(integers - k, integers.Sub(k), at);
            Same(v - x, x.SubtractedFrom(v), at);
            Same(k - integers, integers.SubtractedFrom(k), at);
            Same(x * v, x.Mul(v), at);
            Same(integers * k, integers.Mul(k), at);
            Same(x.clone().mul_(v), x.clone().MulInPlace(v), at);
            Same(x / (v == 0 ? 3 : v), x.Div(v == 0 ? 3 : v), at);
            Same(integers / k, integers.Div(k), at);
            Same(v / positive, positive.DividedInto(v), at);
            Same(positive.pow(v), positive.Pow(v), at);
            Same(x.pow(k), x.Pow(k), at);
            Same(integers.remainder(k), integers.Remainder(k), at);
            Same(x.clamp(-v, Math.Abs(v) + 1), x.Clamp(-v, Math.Abs(v) + 1), at);
            Same(integers.clamp(-k, k), integers.Clamp(-k, k), at);
            Same(x.clamp_min(v), x.ClampMin(v), at);
            Same(x.clamp_max(v), x.ClampMax(v), at);
            Same(integers.eq(k), integers.Eq(k), at);
            Same(integers.ne(k), integers.Ne(k), at);
            Same(x.gt(v), x.Gt(v), at);
            Same(x.ge(v), x.Ge(v), at);
            Same(x.lt(v), x.Lt(v), at);
            Same(x.le(v), x.Le(v), at);
            Same(x.masked_fill(x.gt(0), v), x.MaskedFill(x.gt(0), v), at);
            Same(x.clone().fill_(v), x.clone().FillInPlace(v), at);
            Tensor rows = torch.tensor(new long[] { 0, 3 });
            Same(integers.clone().index_fill_(0, rows, k), integers.clone().IndexFillInPlace(0, rows, k), at);
            Same(x.clone().index_add_(0, rows, y[..2], 1), x.clone().IndexAddInPlace(0, rows, y[..2]), at);
            Same(torch.full([3, 2], v), HeldScalars.Full([3, 2], v), at);
            Same(torch.full([3, 2], k), HeldScalars.Full([3, 2], k), at);
            Same(torch.full_like(x, v), HeldScalars.FullLike(x, v), at);
            Same(torch.full_like(integers, k), HeldScalars.FullLike(integers, k), at);
            Same(torch.arange(k * 3), HeldScalars.Arange(k * 3), at);
            Same(torch.arange(k, 40, k, ScalarType.Float32), HeldScalars.Arange(k, 40, k, ScalarType.Float32), at);
            Same(x.square(), x.Square(), at);
            Same(nn.functional.leaky_relu(x, Math.Abs(v)), x.LeakyRelu(Math.Abs(v)), at);
        }
    }

    [Fact]
    public void Softplus_MatchesLibtorchs_AndKeepsFiniteGradientsAboveItsThreshold()
    {
        using var scope = torch.NewDisposeScope();
        Tensor x = torch.linspace(-60, 60, 2401, dtype: ScalarType.Float32).requires_grad_(true);
        Tensor ours = x.Softplus();
        Tensor theirs = nn.functional.softplus(x.detach());
        Assert.True(ours.detach().allclose(theirs, rtol: 1e-6, atol: 1e-7), "softplus differs from libtorch's");
        ours.sum().backward();
        Tensor expected = torch.sigmoid(x.detach()).where(x.detach().le(20), torch.ones_like(x));
        Assert.True(x.grad!.isfinite().all().item<bool>(), "a gradient is not finite");
        Assert.True(x.grad!.allclose(expected, rtol: 1e-5, atol: 1e-7), "softplus's gradient is not the logistic function");
    }

    [Fact]
    public void BatchNorm2d_WithoutItsCounter_TrainsAndNormalisesLikeTorchSharps()
    {
        using var scope = torch.NewDisposeScope();
        using var generator = new Generator(5);
        Tensor batch = torch.randn([16, 3, 6, 6], generator: generator);
        var theirs = nn.BatchNorm2d(3);
        var ours = HeldScalars.BatchNorm2d(3);
        Assert.Null(ours.num_batches_tracked);
        for (int step = 0; step < 3; step++)
        {
            Same(theirs.forward(batch), ours.forward(batch), $"training step {step}");
        }

        Same(theirs.running_mean!, ours.running_mean!, "running mean");
        Same(theirs.running_var!, ours.running_var!, "running variance");
        theirs.eval();
        ours.eval();
        Same(theirs.forward(batch), ours.forward(batch), "evaluation");
    }

    [Fact]
    public void HeldScalarAdam_TrainsToTorchSharpsAdamWeights_BitForBit()
    {
        (Tensor theirs, Tensor ours) = TrainTwice(
            parameters => torch.optim.Adam(parameters, lr: 0.01),
            parameters => new HeldScalarAdam(parameters, 0.01));
        Same(theirs, ours, "Adam after 25 steps");
    }

    [Fact]
    public void HeldScalarAdamW_UnderAOneCycleSchedule_TrainsToTorchSharpsAdamWWeights_BitForBit()
    {
        (Tensor theirs, Tensor ours) = TrainTwice(
            parameters => torch.optim.AdamW(parameters, lr: 0.02, weight_decay: 0.01),
            parameters => new HeldScalarAdamW(parameters, 0.02, 0.01),
            optimizer => torch.optim.lr_scheduler.OneCycleLR(optimizer, 0.02, 25));
        Same(theirs, ours, "AdamW with OneCycleLR after 25 steps");
    }

    private static (Tensor Theirs, Tensor Ours) TrainTwice(
        Func<IEnumerable<Parameter>, torch.optim.Optimizer> torchSharps,
        Func<IEnumerable<Parameter>, torch.optim.Optimizer> held,
        Func<torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler>? schedule = null)
    {
        return (Train(torchSharps), Train(held));

        Tensor Train(Func<IEnumerable<Parameter>, torch.optim.Optimizer> make)
        {
            torch.manual_seed(7);
            using var model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3));
            using var generator = new Generator(11);
            using Tensor inputs = torch.randn([64, 6], generator: generator);
            using Tensor labels = torch.randint(0, 3, [64], generator: generator);
            using var optimizer = make(model.parameters());
            var scheduler = schedule?.Invoke(optimizer);
            for (int step = 0; step < 25; step++)
            {
                using var scope = torch.NewDisposeScope();
                optimizer.zero_grad();
                nn.functional.cross_entropy(model.forward(inputs), labels).backward();
                optimizer.step();
                scheduler?.step();
            }

            return torch.cat(model.parameters().Select(p => p.detach().flatten()).ToList()).clone();
        }
    }

    private static void Same(Tensor expected, Tensor actual, string at)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.True(expected.eq(actual).all().item<bool>(), $"{at}: the held operation differs from TorchSharp's");
    }
}
#pragma warning restore RS0030
