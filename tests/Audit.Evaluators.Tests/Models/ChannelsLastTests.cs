using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Inventory;
using Google.Protobuf;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Models;

/// <summary>
/// Channels-last image models (tf2onnx's <c>[N, H, W, C]</c> input and leading Transpose) are presented to the probes
/// channels-first, and image datasets are accepted in either layout: every image a probe stamps, masks or renders is
/// then in one orientation.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ChannelsLastTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("channels-last").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Save(global::Onnx.ModelProto model, string name)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    [Fact]
    public void ChannelsLastModel_IsLoadedAsAChannelsFirstViewThatComputesWhatTheChannelsFirstTwinComputes()
    {
        using var nhwc = new OnnxModelSource(Save(TinyGraphs.ImageNhwc(), "nhwc.onnx"), ComputeDevice.Cpu);
        using var nchw = new OnnxModelSource(Save(TinyGraphs.ImageNchw(), "nchw.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel view = nhwc.Load(CancellationToken.None);
        IDifferentiableModel twin = nchw.Load(CancellationToken.None);

        Assert.IsType<ChannelsFirstView>(view);
        Assert.IsNotType<ChannelsFirstView>(twin);
        Assert.Equal([-1L, 3, 8, 8], view.Inputs[0].Shape);
        Assert.Equal(["N", null, null, null], view.Inputs[0].DimensionNames);
        Assert.Equal([-1L, 8, 8, 3], ((ChannelsFirstView)view).ChannelsLastInput.Shape);

        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        Tensor images = torch.randn(5, 3, 8, 8);
        Tensor expected = twin.Forward(images);
        Assert.True(view.Forward(images).allclose(expected, rtol: 1e-5, atol: 1e-6));
        Tensor viaRun = view.Run(new Dictionary<string, Tensor> { [view.Inputs[0].Name] = images })[view.Outputs[0].Name];
        Assert.True(viaRun.allclose(expected, rtol: 1e-5, atol: 1e-6));

        // A Neural Cleanse mask is optimised through the view: the gradient must reach the channels-first input.
        Tensor input = images.clone().requires_grad_(true);
        view.Forward(input).sum().backward();
        Assert.NotNull(input.grad);
        Assert.True(input.grad!.abs().sum().item<float>() > 0);
    }

    [Fact]
    public void ChannelsLastDataset_IsTransposedOnceToChannelsFirst_AndChannelsFirstIsKept()
    {
        using var nhwc = new OnnxModelSource(Save(TinyGraphs.ImageNhwc(), "nhwc.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel view = nhwc.Load(CancellationToken.None);
        // Value = 100·h + 10·w + c, so any wrong axis shows.
        float[] channelsLast = [.. Enumerable.Range(0, 2 * 8 * 8 * 3).Select(i => (float)((i / 24 % 8 * 100) + (i / 3 % 8 * 10) + (i % 3) + (i / 192 * 1000)))];
        var stored = new DatasetArtifact(channelsLast, [2, 8, 8, 3], [0, 1]);

        DatasetArtifact arranged = stored.ArrangedFor(view);

        Assert.True(arranged.TransposedFromChannelsLast);
        Assert.Equal([2L, 3, 8, 8], arranged.InputShape);
        arranged.EnsureFits(view);
        using var scope = torch.NewDisposeScope();
        Tensor t = arranged.InputsTensor(torch.CPU);
        Assert.Equal(1000f + (5 * 100) + (6 * 10) + 2, t[1, 2, 5, 6].item<float>());
        Assert.Equal((7 * 100) + 1, t[0, 1, 7, 0].item<float>());

        // Already channels-first: used as it is.
        DatasetArtifact kept = arranged.ArrangedFor(view);
        Assert.Same(arranged, kept);

        // Neither layout fits: the refusal names both.
        var wrong = new DatasetArtifact(new float[2 * 5 * 8 * 3], [2, 5, 8, 3], null);
        DatasetRejectedException refused = Assert.Throws<DatasetRejectedException>(() => wrong.ArrangedFor(view).EnsureFits(view));
        Assert.Contains("[N, H, W, C]", refused.Message, StringComparison.Ordinal);
        Assert.Contains("channels-last", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SessionEvidence_HoldsTheArrangementTheModelTakes()
    {
        using var nhwc = new OnnxModelSource(Save(TinyGraphs.ImageNhwc(), "nhwc.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel view = nhwc.Load(CancellationToken.None);
        string path = Path.Combine(_directory, "nhwc.safetensors");
        float[] values = [.. Enumerable.Range(0, 20 * 8 * 8 * 3).Select(i => (float)(i % 3))];
        SafetensorsDataset.Write(path, new DatasetArtifact(values, [20, 8, 8, 3], null));
        using var evidence = new AuditEvidence(path, ComputeDevice.Cpu);

        Assert.Equal([20L, 8, 8, 3], evidence.Dataset().InputShape);
        Tensor before = evidence.Inputs();
        Assert.Equal([20L, 8, 8, 3], before.shape);
        DatasetArtifact arranged = evidence.Dataset(view);

        Assert.Equal([20L, 3, 8, 8], arranged.InputShape);
        Assert.Equal([20L, 3, 8, 8], evidence.Inputs().shape);
        Assert.Equal(2f, evidence.Inputs()[4, 2].mean().item<float>());
        Assert.Same(arranged, evidence.Dataset());
    }
}
