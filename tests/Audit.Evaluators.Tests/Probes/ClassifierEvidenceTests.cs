using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Runtime;
using Audit.Evaluators.Tests.Fixtures;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>Forward passes bounded by activation bytes: how many rows a forward takes, and that splitting changes no result.</summary>
[Collection(NativeTorch.Collection)]
public sealed class ClassifierEvidenceTests
{
    [Fact]
    public void ActivationBytesPerRow_CoversTheFirstConvolution_AndAWiderModelGetsFewerRowsPerForward()
    {
        using ClassifierEvidence evidence = Load();
        using Tensor targets = DistilledReference.TeacherTargets(evidence, Settings, CancellationToken.None);
        using DistilledReference reference = DistilledReference.Train(evidence, Settings, targets, null, CancellationToken.None);
        using ClassifierEvidence wider = evidence.WithModel(reference, "wider");

        // The fixture's first convolution alone writes 8 × 28 × 28 floats per input; the reference's, 16 × 28 × 28.
        Assert.True(evidence.ActivationBytesPerRow >= 8 * 28 * 28 * 4, $"{evidence.ActivationBytesPerRow} bytes");
        Assert.True(wider.ActivationBytesPerRow >= 16 * 28 * 28 * 4, $"{wider.ActivationBytesPerRow} bytes");
        Assert.True(wider.ActivationBytesPerRow > evidence.ActivationBytesPerRow);
        const long Budget = 8L << 20;
        Assert.True(wider.RowsPerForward(512, Budget) < evidence.RowsPerForward(512, Budget));
        Assert.Equal((int)(Budget / evidence.ActivationBytesPerRow), evidence.RowsPerForward(512, Budget));
        // Gradients as large again: half the rows.
        Assert.Equal((int)(Budget / (2.0 * evidence.ActivationBytesPerRow)), evidence.RowsPerForward(512, Budget, factor: 2));
        Assert.Equal(1, evidence.RowsPerForward(512, budgetBytes: 1));
    }

    [Fact]
    public void Batched_InForwardsOfOneRow_GivesTheNumbersOfBatchesOf512()
    {
        using ClassifierEvidence evidence = Load();
        using var scope = torch.NewDisposeScope();
        const long Count = 40;
        Tensor Run(long start, long size) => evidence.Model.Forward(evidence.Inputs.narrow(0, start, size)).Div(1.0).softmax(1);

        Tensor whole = evidence.Batched(Count, Run, CancellationToken.None);
        Tensor split = evidence.Batched(Count, Run, CancellationToken.None, budgetBytes: 1);

        Assert.Equal([Count, evidence.Classes], split.shape);
        Assert.True(whole.allclose(split, rtol: 1e-5, atol: 1e-7), $"largest difference {(whole - split).abs().max().item<float>()}");
        Assert.Equal(whole.argmax(1).data<long>().ToArray(), split.argmax(1).data<long>().ToArray());
    }

    private static readonly ReferenceSettings Settings = new(Steps: 20, BatchSize: 64, LearningRate: 3e-3, Temperature: 2, Seed: 1);

    private static ClassifierEvidence Load()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.Clean);
        ProbeContext context = ProbeHarness.Context(new StripProbe(), fixture);
        return ClassifierEvidence.Load(context, [], CancellationToken.None);
    }
}
