using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>The distilled reference is a function of the evidence and its settings, not of the thread that asks for it.</summary>
[Collection(NativeTorch.Collection)]
public sealed class DistilledReferenceTests
{
    /// <summary>
    /// Probes distil inside one-thread lanes, but a caller on the audit's own thread (a test, a future probe) got a
    /// reference trained at the host's count, and the adversarial-sink finding compared with it moved (0.917 against
    /// 0.905 on an Intel Xeon). The reference's logits must be bitwise the same at host thread counts 1 and 2, and the
    /// host's count must be left as it was.
    /// </summary>
    [Fact]
    public void TargetsAndTraining_GiveTheSameReference_WhateverTheHostsThreadCount()
    {
        int before = torch.get_num_threads();
        try
        {
            using Tensor one = ReferenceLogits(hostThreads: 1);
            Assert.Equal(1, torch.get_num_threads());
            using Tensor two = ReferenceLogits(hostThreads: 2);
            Assert.Equal(2, torch.get_num_threads());

            Assert.True(one.equal(two).all().item<bool>(), $"largest difference {(one - two).abs().max().item<float>()}");
        }
        finally
        {
            torch.set_num_threads(before);
        }
    }

    /// <summary>
    /// After two 2×2 poolings a 28×28 image is already 7×7, so the reference leaves out the average pooling to 7×7 (its
    /// backward kernel was about 5 % of an audit's CPU time): the outputs and input gradients must be bitwise those of
    /// the same layers with the pooling in, on channels-last inputs as the reference feeds them.
    /// </summary>
    [Fact]
    public void LeavingOutThePoolingOfA28x28Map_ChangesNoNumber()
    {
        using var scope = torch.NewDisposeScope();
        (Sequential features, Linear head) = DistilledReference.Build([1, 28, 28], 10);
        List<(string Name, nn.Module<Tensor, Tensor> Module)> layers = [.. features.named_children().Select(c => (c.name, (nn.Module<Tensor, Tensor>)c.module))];
        Assert.DoesNotContain(layers, l => l.Name == "shrink");
        layers.Insert(layers.FindIndex(l => l.Name == "flatten"), ("shrink", nn.AdaptiveAvgPool2d([7, 7])));
        Sequential pooled = nn.Sequential(layers);

        using var generator = new torch.Generator(7);
        Tensor images = torch.rand([16, 28, 28, 1], generator: generator);
        (Tensor Logits, Tensor Gradient) Run(Sequential through)
        {
            Tensor x = images.clone().requires_grad_(true);
            Tensor logits = head.forward(through.forward(x.permute(0, 3, 1, 2)));
            logits.mul(logits).sum().backward();
            return (logits.detach(), x.grad!.clone());
        }

        (Tensor without, Tensor withoutGradient) = Run(features);
        (Tensor with, Tensor withGradient) = Run(pooled);
        Assert.True(without.equal(with).all().item<bool>(), $"largest logit difference {(without - with).abs().max().item<float>()}");
        Assert.True(withoutGradient.equal(withGradient).all().item<bool>(), $"largest gradient difference {(withoutGradient - withGradient).abs().max().item<float>()}");
        Assert.True(withGradient.abs().sum().item<float>() > 0);
    }

    /// <summary>A 32×32 image is 8×8 after the poolings: there the average pooling to 7×7 stays.</summary>
    [Fact]
    public void A32x32Map_IsStillPooledTo7x7()
    {
        using var scope = torch.NewDisposeScope();
        (Sequential features, Linear _) = DistilledReference.Build([3, 32, 32], 10);
        Assert.Contains(features.named_children(), c => c.name == "shrink");
        Assert.Equal([2, 64], features.forward(torch.zeros([2, 3, 32, 32])).shape);
    }

    private static Tensor ReferenceLogits(int hostThreads)
    {
        torch.set_num_threads(hostThreads);
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        ProbeContext context = ProbeHarness.Context(new StripProbe(), fixture);
        using ClassifierEvidence evidence = ClassifierEvidence.Load(context, [], CancellationToken.None);
        var settings = new ReferenceSettings(Steps: 50, BatchSize: 128, LearningRate: 3e-3, Temperature: 2, Seed: 1);
        using Tensor targets = DistilledReference.TeacherTargets(evidence, settings, CancellationToken.None);
        using DistilledReference reference = DistilledReference.Train(evidence, settings, targets, null, CancellationToken.None);
        using IntraOpThreads pinned = IntraOpThreads.Pin(1, hostThreads);
        using var noGrad = torch.no_grad();
        return reference.Forward(evidence.Inputs).detach().clone();
    }
}
