using Audit.Domain.Findings;
using Audit.Evaluators.Inventory;
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
/// Classifiers exported with a final Softmax (Keras' softmax Dense layer through tf2onnx, a PyTorch <c>forward</c> that
/// returns probabilities) or LogSoftmax: every probe reads the class scores before it, so a model and its twin with a
/// softmax appended give the same findings (docs/probes.md, "Trojan probes: shared assumptions").
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class FinalSoftmaxTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("final-softmax").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Save(ModelProto model, string name)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    [Theory]
    [InlineData("Softmax", 1L, false, false)]
    [InlineData("Softmax", -1L, false, false)]
    [InlineData("Softmax", null, false, false)] // opset 17's default axis, -1
    [InlineData("Softmax", 1L, true, false)]
    [InlineData("LogSoftmax", 1L, false, false)]
    [InlineData("Softmax", 1L, false, true)] // channels-last: the logits view sits inside the channels-first view
    public void AModelEndingInASoftmax_IsReadBeforeIt_AndComputesItsTwinsLogits(string opType, long? axis, bool identityAfter, bool channelsLast)
    {
        ModelProto plain = channelsLast ? TinyGraphs.ImageNhwc() : TinyGraphs.ImageNchw();
        using var twin = new OnnxModelSource(Save(plain, "plain.onnx"), ComputeDevice.Cpu);
        using var normalised = new OnnxModelSource(Save(FinalNormaliserExport.Appended(plain, opType, axis, identityAfter), "normalised.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel expected = twin.Load(CancellationToken.None);
        IDifferentiableModel model = normalised.Load(CancellationToken.None);

        ClassLogitsView view = Assert.IsType<ClassLogitsView>(channelsLast ? ((ChannelsFirstView)model).Inner : model);
        Assert.Equal(opType, view.NormalisedBy);
        Assert.Equal("logits", view.NormalisedOutput.Name);
        Assert.Equal("logits_before_" + opType, model.Outputs[0].Name);
        Assert.Equal(expected.Outputs[0].Shape, model.Outputs[0].Shape);

        using var scope = torch.NewDisposeScope();
        torch.manual_seed(5);
        Tensor images = torch.randn(6, 3, 8, 8);
        Tensor logits = expected.Forward(images);
        Assert.True(model.Forward(images).allclose(logits, rtol: 1e-5, atol: 1e-6));
        Tensor viaRun = model.Run(new Dictionary<string, Tensor> { [model.Inputs[0].Name] = images })[model.Outputs[0].Name];
        Assert.True(viaRun.allclose(logits, rtol: 1e-5, atol: 1e-6));

        // The graph's own output is still the normalised scores, and it is what ONNX Runtime and the accuracy probe see.
        Tensor probabilities = model.Run(new Dictionary<string, Tensor> { [model.Inputs[0].Name] = images }, ["logits"])["logits"];
        Tensor softmax = opType == "Softmax" ? logits.softmax(1) : logits.log_softmax(1);
        Assert.True(probabilities.allclose(softmax, rtol: 1e-5, atol: 1e-6));

        // A trigger's mask is optimised through the view: the gradient must reach the input.
        Tensor input = images.clone().requires_grad_(true);
        model.Forward(input)[.., 2].sum().backward();
        Assert.True(input.grad!.abs().sum().item<float>() > 0);
    }

    /// <summary>
    /// The label-specific scan's shadow is the audited graph with fresh weights: it must be read the same way, through its
    /// own logits, or its cross-entropy would train a second softmax (and the channels-last view must stay outermost).
    /// </summary>
    [Fact]
    public void TheShadowOfAModelEndingInASoftmax_IsReadBeforeItToo()
    {
        using var source = new OnnxModelSource(Save(FinalNormaliserExport.Appended(TinyGraphs.ImageNhwc(), "Softmax"), "nhwc-softmax.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel model = source.Load(CancellationToken.None);
        using var scope = torch.NewDisposeScope();
        torch.manual_seed(7);
        Tensor inputs = torch.randn(64, 3, 8, 8);
        Tensor labels = model.Forward(inputs).argmax(1);

        using ShadowModel shadow = ShadowModel.TryTrain(model, inputs, labels, new ShadowSettings(Steps: 20, BatchSize: 16, LearningRate: 3e-3, Seed: 5), CancellationToken.None)!;

        Assert.Equal("logits_before_Softmax", shadow.Outputs[0].Name);
        Assert.Equal([-1L, 3, 8, 8], shadow.Inputs[0].Shape);
        Tensor scores = shadow.Forward(inputs);
        // Logits, not probabilities: rows do not sum to one.
        Assert.False(scores.sum(1).allclose(torch.ones(64), rtol: 1e-3, atol: 1e-3));
    }

    [Theory]
    [InlineData("Softmax", 0L)] // over the batch: not a distribution over classes
    [InlineData("Relu", 1L)]
    public void AModelEndingInAnythingElse_IsReadAsItIs(string opType, long axis)
    {
        using var source = new OnnxModelSource(Save(FinalNormaliserExport.Appended(TinyGraphs.ImageNchw(), opType, axis), "other.onnx"), ComputeDevice.Cpu);
        IDifferentiableModel model = source.Load(CancellationToken.None);

        Assert.IsType<OnnxGraph>(model);
        Assert.Equal("logits", model.Outputs[0].Name);
    }

    [Fact]
    public void TheInventory_SaysTheScoresAreNormalised_AndWhichValueTheProbesRead()
    {
        ModelInventory normalised = ModelInspector.InspectAndRun(Save(FinalNormaliserExport.Appended(TinyGraphs.ImageNchw(), "Softmax"), "softmax.onnx"), CancellationToken.None);
        ModelInventory plain = ModelInspector.InspectAndRun(Save(TinyGraphs.ImageNchw(), "plain.onnx"), CancellationToken.None);

        Assert.Equal("Softmax", normalised.Interface!.ScoresNormalisedBy);
        Assert.Equal("logits_before_Softmax", normalised.Interface.Logits);
        Assert.Equal(10, normalised.Interface.Classes);
        Assert.Null(plain.Interface!.ScoresNormalisedBy);
        Assert.Null(plain.Interface.Logits);
    }

    /// <summary>
    /// The detectors that read the model's scores themselves (saliency of a class score, the head recovered as an affine
    /// map onto the scores, an input-wide pattern pushed towards a class) on the BadNets fixture and its twin with a
    /// Softmax appended: the same statistics, and the finding says what it read. Read as logits, the probabilities give
    /// other statistics (the control), which is what the view prevents.
    /// </summary>
    [Fact]
    public async Task TheDetectors_OnATwinWithASoftmaxAppended_GiveTheSameStatistics()
    {
        TrainedFixture fixture = TrojanFixtures.Get(TrojanFixtures.BadNets);
        string twinPath = Save(FinalNormaliserExport.Appended(ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.OnnxPath)), "Softmax"), "badnets-softmax.onnx");
        using var twin = new OnnxModelSource(twinPath, ComputeDevice.Cpu);
        using OnnxGraph probabilities = OnnxModelLoader.Load(twinPath, ComputeDevice.Cpu);
        using var plainSource = new OnnxModelSource(fixture.OnnxPath, ComputeDevice.Cpu);

        IProbe[] probes = [new SaliencyPersistenceProbe(), new WeightSignatureProbe(), new BlendInversionProbe()];
        foreach (IProbe probe in probes)
        {
            ProbeOutcome plain = await Run(probe, fixture, plainSource.Load(CancellationToken.None));
            ProbeOutcome viaLogits = await Run(probe, fixture, twin.Load(CancellationToken.None));
            ProbeOutcome readAsLogits = await Run(probe, fixture, probabilities);
            double a = Statistic(plain), b = Statistic(viaLogits), c = Statistic(readAsLogits);
            output.WriteLine($"{probe.Descriptor.Name}: plain {a:F4}, softmax twin {b:F4}, its probabilities read as logits {c:F4} ({readAsLogits.Verdict})");

            Assert.Equal(plain.Verdict, viaLogits.Verdict);
            Assert.True(Math.Abs(a - b) <= 1e-3 * Math.Max(1, Math.Abs(a)), $"{probe.Descriptor.Name}: {a} against {b}");
            Assert.Null(plain.Details["finalNormaliser"]);
            Assert.Equal("logits_before_Softmax", (string)viaLogits.Details["finalNormaliser"]!["logitsRead"]!);
            Assert.Equal("Softmax", (string)viaLogits.Details["finalNormaliser"]!["operator"]!);
            Assert.True(readAsLogits.Verdict == Verdict.Inconclusive || Math.Abs(a - c) > 0.05 * Math.Max(1, Math.Abs(a)), $"{probe.Descriptor.Name}: the probabilities read as logits gave {c}, as the logits {a}");
        }
    }

    private static Task<ProbeOutcome> Run(IProbe probe, TrainedFixture fixture, IDifferentiableModel model) =>
        Task.Run(() => probe.RunAsync(ProbeHarness.Context(probe, fixture, model: model, session: new SessionCache()), CancellationToken.None));

    private static double Statistic(ProbeOutcome outcome) =>
        outcome.Details["statistic"] is { } s ? (double)s : double.NaN;
}
