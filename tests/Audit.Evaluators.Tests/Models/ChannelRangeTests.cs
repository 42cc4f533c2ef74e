using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Sessions;
using Audit.Evaluators.Tests.Fixtures;
using Audit.Evaluators.Tests.Inventory;
using Audit.Evaluators.Tests.Probes;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Models;

/// <summary>
/// Evidence whose colour channels were standardised each with its own mean and deviation (torchvision's ImageNet or
/// CIFAR constants) is read per channel: each channel's own range is mapped onto the common one, so a trigger, noise or
/// perturbation stays within values real images have in every channel, and an audit does not depend on how the owner
/// standardised (docs/probes.md, "Channels standardised each their own way").
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ChannelRangeTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("channel-ranges").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    /// <summary>Seeded pixels in [0, 1] with both ends present in every channel, <c>[count, channels, side, side]</c>.</summary>
    private static float[] Pixels(int seed, int count, int channels, int side)
    {
        var random = new Random(seed);
        float[] pixels = [.. Enumerable.Range(0, count * channels * side * side).Select(_ => (float)random.NextDouble())];
        int plane = side * side;
        for (int c = 0; c < channels; c++)
        {
            pixels[c * plane] = 0f;
            pixels[(c * plane) + 1] = 1f;
        }

        return pixels;
    }

    private static DatasetArtifact Images(float[] pixels, int count, int channels, int side, Func<int, float, float> map)
    {
        int plane = side * side;
        return new DatasetArtifact([.. pixels.Select((v, i) => map(i / plane % channels, v))], [count, channels, side, side], null);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void ImageNetStandardisedEvidence_IsReadPerChannel_EachChannelSpanningTheCommonRange(int seed)
    {
        DatasetArtifact evidence = Images(Pixels(seed, 20, 3, 6), 20, 3, 6, (c, u) => (u - TrojanFixtures.ImageNetMean[c]) / TrojanFixtures.ImageNetDeviation[c]);
        ChannelRanges ranges = ChannelRanges.Of(evidence);

        Assert.True(ranges.ReadPerChannel);
        Assert.Equal((0 - 0.485f) / 0.229f, ranges.Low, 5);
        Assert.Equal((1 - 0.406f) / 0.225f, ranges.High, 5);

        using var scope = torch.NewDisposeScope();
        var view = new ChannelRangeView(new Identity(), ranges.Scale, ranges.Offset);
        Tensor probes = view.ToProbes(evidence.InputsTensor(CPU));
        for (int c = 0; c < 3; c++)
        {
            Tensor channel = probes[.., c];
            Assert.Equal(ranges.Low, channel.min().item<float>(), 4);
            Assert.Equal(ranges.High, channel.max().item<float>(), 4);
        }

        // The model sees exactly its evidence again.
        Assert.True(view.Forward(probes).allclose(evidence.InputsTensor(CPU), rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData(0.009, false)] // within 1 % of the span: the zoo's colour evidence departs by 0.1 % (0.001 of [0, 1])
    [InlineData(0.011, true)]
    public void AChannelIsReadOnItsOwnRange_OnlyBeyondTheTolerance(double departure, bool expected)
    {
        DatasetArtifact evidence = Images(Pixels(4, 10, 3, 5), 10, 3, 5, (c, u) => c == 1 ? (float)(departure + ((1 - departure) * u)) : u);
        ChannelRanges ranges = ChannelRanges.Of(evidence);

        Assert.Equal(expected, ranges.ReadPerChannel);
        Assert.Equal(1f, ranges.Scale[0]);
        Assert.Equal(1f, ranges.Scale[2]);
        Assert.Equal(expected ? (float)(1 - departure) : 1f, ranges.Scale[1], 5);
    }

    [Fact]
    public void GreyImages_Vectors_AndAChannelOfOneValue_AreNotStretched()
    {
        Assert.False(ChannelRanges.Of(Images(Pixels(5, 10, 1, 5), 10, 1, 5, (_, u) => (u - 0.5f) / 0.2f)).ReadPerChannel);
        Assert.False(ChannelRanges.Of(new DatasetArtifact(Pixels(5, 10, 1, 5), [10, 25], null)).ReadPerChannel);

        // An alpha channel that is 1 everywhere, beside two channels in [0, 1]: nothing to keep a trigger within.
        ChannelRanges alpha = ChannelRanges.Of(Images(Pixels(6, 10, 3, 5), 10, 3, 5, (c, u) => c == 2 ? 1f : u));
        Assert.False(alpha.ReadPerChannel);
        Assert.All(alpha.Scale, s => Assert.Equal(1f, s));
    }

    [Fact]
    public void TheView_ComputesTheWrappedModelsScores_PassesGradients_AndReportsACapturedInputAsGiven()
    {
        using var source = new OnnxModelSource(Save(TinyGraphs.ImageNchw(), "tiny.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel inner = source.Load(CancellationToken.None);
        var view = new ChannelRangeView(inner, [0.5f, 2f, 1f], [0.1f, -1f, 0f]);

        using var scope = torch.NewDisposeScope();
        torch.manual_seed(3);
        Tensor raw = torch.rand(5, 3, 8, 8);
        Tensor probes = view.ToProbes(raw);
        Assert.True(view.Forward(probes).allclose(inner.Forward(raw), rtol: 1e-5, atol: 1e-6));

        IReadOnlyDictionary<string, Tensor> run = view.Run(new Dictionary<string, Tensor> { ["image"] = probes }, ["image", "conv"]);
        Assert.True(run["image"].allclose(probes, rtol: 1e-5, atol: 1e-6));
        Assert.True(run["conv"].allclose(inner.Run(new Dictionary<string, Tensor> { ["image"] = raw }, ["conv"])["conv"], rtol: 1e-5, atol: 1e-6));

        Tensor input = probes.clone().requires_grad_(true);
        view.Forward(input)[.., 4].sum().backward();
        Assert.True(input.grad!.abs().sum().item<float>() > 0);

        Assert.Throws<ArgumentException>(() => new ChannelRangeView(inner, [1f, 1f], [0f, 0f]));
        Assert.Throws<ArgumentException>(() => new ChannelRangeView(inner, [1f, 0f, 1f], [0f, 0f, 0f]));
    }

    /// <summary>
    /// The BadNets fixture read through three colour channels (their mean), once on its images copied into each channel,
    /// once as a twin whose channels the owner mapped each its own way (the second onto [0, 0.5], the third onto [0.5, 1];
    /// the common range stays [0, 1]). Read per channel, the twin gives the detectors exactly the plain model's inputs, so
    /// the same statistics; read with one range (the profile's <c>inputBounds</c> [0, 1], as every audit was read before),
    /// the pattern inversion may go twice as far in those channels as any real image does, and its statistic moves
    /// (2.39 → 2.31 when this was written; saliency persistence, a robust z of gradients, does not move).
    /// </summary>
    [Fact]
    public async Task TheDetectors_OnATwinStandardisedPerChannel_GiveTheColourModelsStatistics()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        ModelProto colour = InputMapExport.Widened(ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.OnnxPath)), 3);
        float[] scale = [1f, 2f, 2f], shift = [0f, 0f, -1f];
        using var plainSource = new OnnxModelSource(Save(colour, "colour.onnx"), ComputeDevice.Cpu);
        using var twinSource = new OnnxModelSource(Save(InputMapExport.Prepended(colour, scale, shift), "twin.onnx"), ComputeDevice.Cpu);

        DatasetArtifact grey = SafetensorsDataset.Read(TrojanFixtures.CleanDataset(normalised: false, count: 300));
        string plainEvidence = Write(TrojanFixtures.InColour(grey, (_, u) => u), "colour.safetensors");
        string twinEvidence = Write(TrojanFixtures.InColour(grey, (c, u) => (u - shift[c]) / scale[c]), "twin.safetensors");

        IProbe[] probes = [new SaliencyPersistenceProbe(), new BlendInversionProbe(), new PerturbationRobustnessProbe()];
        foreach (IProbe probe in probes)
        {
            ProbeOutcome plain = await Run(probe, fixture, plainSource.Load(CancellationToken.None), plainEvidence);
            ProbeOutcome perChannel = await Run(probe, fixture, twinSource.Load(CancellationToken.None), twinEvidence);
            ProbeOutcome oneRange = await Run(probe, fixture, twinSource.Load(CancellationToken.None), twinEvidence, new Dictionary<string, object> { ["inputBounds"] = new[] { 0.0, 1.0 } });
            double a = Statistic(plain), b = Statistic(perChannel), c = Statistic(oneRange);
            output.WriteLine($"{probe.Descriptor.Name}: colour {a:F4}, twin per channel {b:F4}, twin with one range {c:F4}");

            Assert.Equal(plain.Verdict, perChannel.Verdict);
            double tolerance = 1e-3 * Math.Max(1, Math.Abs(a));
            Assert.True(Math.Abs(a - b) <= tolerance, $"{probe.Descriptor.Name}: {a} against {b}");
            Assert.Null(plain.Details["channelRanges"]);
            Assert.Null(oneRange.Details["channelRanges"]);
            JsonNode record = perChannel.Details["channelRanges"]!;
            Assert.Equal([false, true, true], record["perChannel"]!.AsArray().Select(v => (bool)v!));
            Assert.Equal(0.5, (double)record["evidenceRanges"]![1]![1]!, 6);
            if (probe is BlendInversionProbe)
            {
                // The control: the equality above is not a property of any reading (ten times the tolerance apart).
                Assert.True(Math.Abs(a - c) > 10 * tolerance, $"read with one range, blend inversion gave {c}, as per channel {a}");
            }
        }
    }

    private string Save(ModelProto model, string name)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private string Write(DatasetArtifact dataset, string name)
    {
        string path = Path.Combine(_directory, name);
        SafetensorsDataset.Write(path, dataset);
        return path;
    }

    private static Task<ProbeOutcome> Run(IProbe probe, TrainedFixture fixture, IDifferentiableModel model, string dataset, IReadOnlyDictionary<string, object>? parameters = null) =>
        Task.Run(() => probe.RunAsync(ProbeHarness.Context(probe, fixture, datasetPath: dataset, parameters: parameters, model: model, session: new SessionCache()), CancellationToken.None));

    private static double Statistic(ProbeOutcome outcome) =>
        outcome.Details["statistic"] is { } s ? (double)s : double.NaN;

    /// <summary>A model that returns its input: enough to map evidence through a view.</summary>
    private sealed class Identity : IDifferentiableModel
    {
        public IReadOnlyList<ValueSpec> Inputs { get; } = [new ValueSpec("x", ScalarType.Float32, [-1, 3, -1, -1], [])];

        public IReadOnlyList<ValueSpec> Outputs => Inputs;

        public IReadOnlyList<string> ValueNames { get; } = ["x"];

        public ComputeDevice Device => ComputeDevice.Cpu;

        public Tensor Forward(Tensor input) => input;

        public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyCollection<string>? capture = null, IReadOnlyDictionary<string, Tensor>? replace = null) =>
            new Dictionary<string, Tensor> { ["x"] = inputs["x"] };

        public void Dispose()
        {
        }
    }
}
