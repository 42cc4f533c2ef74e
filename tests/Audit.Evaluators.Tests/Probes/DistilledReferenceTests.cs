using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
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
