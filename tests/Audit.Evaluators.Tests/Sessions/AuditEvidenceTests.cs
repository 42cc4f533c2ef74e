using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Sessions;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Sessions;

[Collection(NativeTorch.Collection)]
public sealed class AuditEvidenceTests : IDisposable
{
    private readonly string path = Path.Combine(Path.GetTempPath(), $"evidence-{Guid.NewGuid():N}.safetensors");

    public AuditEvidenceTests() =>
        SafetensorsDataset.Write(path, new DatasetArtifact([0, 1, 2, 3, 4, 5], [3, 2], [0L, 1L, 1L]));

    [Fact]
    public void TheFileIsReadOnce_AndTheTensorsAreShared()
    {
        using var evidence = new AuditEvidence(path, ComputeDevice.Cpu);
        DatasetArtifact dataset = evidence.Dataset();
        Tensor inputs = evidence.Inputs();

        // Gone from disk: a second read would fail, a session that read once does not.
        File.Delete(path);

        Assert.Same(dataset, evidence.Dataset());
        Assert.Same(inputs, evidence.Inputs());
        Assert.Equal([3L, 2L], inputs.shape);
        Assert.Equal([0L, 1L, 1L], evidence.Labels().data<long>().ToArray());
    }

    [Fact]
    public void TensorsFirstAskedForInsideAProbesDisposeScope_OutliveIt_UntilTheSessionEnds()
    {
        var evidence = new AuditEvidence(path, ComputeDevice.Cpu);
        Tensor inputs;
        using (torch.NewDisposeScope())
        {
            inputs = evidence.Inputs();
            _ = inputs.sum();
        }

        Assert.False(inputs.IsInvalid);
        Assert.Equal(15f, inputs.sum().item<float>());

        evidence.Dispose();

        Assert.True(inputs.IsInvalid);
    }

    [Fact]
    public void WithoutAnEvidenceFile_AskingForTheDatasetIsRejected()
    {
        using var evidence = new AuditEvidence(null, ComputeDevice.Cpu);

        Assert.Null(evidence.Path);
        Assert.Throws<DatasetRejectedException>(evidence.Dataset);
        Assert.Throws<EvidenceRejectedException>(() => evidence.Sequence(new SequenceLimits(10, 10), CancellationToken.None));
    }

    [Fact]
    public void AnUnlabelledDataset_HasNoLabelsTensor()
    {
        string unlabelled = Path.Combine(Path.GetTempPath(), $"unlabelled-{Guid.NewGuid():N}.safetensors");
        SafetensorsDataset.Write(unlabelled, new DatasetArtifact([0, 1], [2, 1], null));
        try
        {
            using var evidence = new AuditEvidence(unlabelled, ComputeDevice.Cpu);

            Assert.Throws<DatasetRejectedException>(evidence.Labels);
        }
        finally
        {
            File.Delete(unlabelled);
        }
    }

    public void Dispose() => File.Delete(path);
}
