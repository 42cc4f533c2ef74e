using Audit.Domain.Findings;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes;
using Audit.Evaluators.Probes.Deception;
using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Inventory;

/// <summary>Executability measured by a forward pass, and the interface read from declarations and that run.</summary>
[Collection(NativeTorch.Collection)]
public sealed class ModelInterfaceTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("interface").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private ModelInventory Inspect(ModelProto model)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N") + ".onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return ModelInspector.InspectAndRun(path, CancellationToken.None);
    }

    private static string Role(ModelInterface detected, string input) => detected.Inputs.Single(i => i.Name == input).Role;

    [Fact]
    public void ChannelsFirstImageClassifier_IsDetectedAsNchwAndRuns()
    {
        ModelInventory inventory = Inspect(TinyGraphs.ImageNchw());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        ModelInterface detected = inventory.Interface!;
        Assert.Equal(ModelKindNames.ImageClassifier, detected.Kind);
        Assert.Equal(("NCHW", 3L, 8L, 8L, 10L), (detected.Layout, detected.Channels!.Value, detected.Height!.Value, detected.Width!.Value, detected.Classes!.Value));
        Assert.Equal(InputRoles.Image, Role(detected, "image"));
    }

    [Fact]
    public void ChannelsLastImageBehindTf2onnxTranspose_IsDetectedAsNhwc()
    {
        ModelInventory inventory = Inspect(TinyGraphs.ImageNhwc());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        ModelInterface detected = inventory.Interface!;
        Assert.Equal(ModelKindNames.ImageClassifier, detected.Kind);
        Assert.Equal(("NHWC", 3L, 8L, 8L, 10L), (detected.Layout, detected.Channels!.Value, detected.Height!.Value, detected.Width!.Value, detected.Classes!.Value));
    }

    [Fact]
    public void FeatureVectorClassifier_IsDetectedWithFeaturesAndClasses()
    {
        ModelInventory inventory = Inspect(TinyGraphs.Vector());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        Assert.Equal(ModelKindNames.VectorClassifier, inventory.Interface!.Kind);
        Assert.Equal((5L, 3L), (inventory.Interface.Features!.Value, inventory.Interface.Classes!.Value));
        Assert.Equal(InputRoles.Features, Role(inventory.Interface, "features"));
    }

    [Fact]
    public void CausalLmWithSymbolicDims_RunsAndReadsTheVocabularyFromItsLogits()
    {
        ModelInventory inventory = Inspect(TinyGraphs.CausalLm());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        ModelInterface detected = inventory.Interface!;
        Assert.Equal(ModelKindNames.CausalLm, detected.Kind);
        Assert.Equal(TinyGraphs.LmVocabulary, detected.Vocabulary);
        Assert.Equal("logits", detected.Output);
        Assert.Equal(InputRoles.InputIds, Role(detected, "input_ids"));
        Assert.Equal(InputRoles.AttentionMask, Role(detected, "attention_mask"));
        Assert.Equal(InputRoles.PositionIds, Role(detected, "position_ids"));
        Assert.Equal(InputRoles.PastKeyValues, Role(detected, "past_key_values.0.key"));
    }

    [Fact]
    public void EncoderWithLastHiddenState_IsAnEncoderWhoseWidthIsNoVocabulary()
    {
        ModelInventory inventory = Inspect(TinyGraphs.Encoder());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        ModelInterface detected = inventory.Interface!;
        Assert.Equal(ModelKindNames.Encoder, detected.Kind);
        Assert.Equal(TinyGraphs.EncoderHidden, detected.HiddenSize);
        Assert.Null(detected.Vocabulary);
        Assert.Equal(InputRoles.TokenTypeIds, Role(detected, "token_type_ids"));
    }

    [Fact]
    public void GraphThatFailsAtRunTime_IsNotExecutableAndSaysWhy()
    {
        ModelInventory inventory = Inspect(TinyGraphs.VectorThatFailsWhenRun());

        Assert.Empty(inventory.UnsupportedOperators);
        Assert.False(inventory.Executable);
        Assert.Contains("Expand", inventory.ExecutionError, StringComparison.Ordinal);
        Assert.Contains("do not broadcast", inventory.ExecutionError, StringComparison.Ordinal);
    }

    [Fact]
    public void DeclaredValueTooLargeForTheCheck_IsNotRunAndSaysWhy()
    {
        ModelProto model = TinyGraphs.Vector();
        model.Graph.ValueInfo.Add(TinyGraphs.Value("huge", 1, "batch", "100000", "100000"));

        ModelInventory inventory = Inspect(model);

        Assert.False(inventory.Executable);
        Assert.Contains("huge", inventory.ExecutionError, StringComparison.Ordinal);
    }

    [Fact]
    public void SequenceView_FeedsMaskPositionsAndEmptyPast_AndLetsTheEvidenceDecideTheLength()
    {
        using var scope = torch.NewDisposeScope();
        using OnnxGraph graph = OnnxModelLoader.Load(TinyGraphs.CausalLm().ToByteArray(), ComputeDevice.Cpu);

        SequenceModelView view = SequenceModelView.Create(graph, contextLength: 0);

        Assert.Equal(TinyGraphs.LmVocabulary, view.VocabularySize);
        Assert.Null(view.FixedLength);
        Assert.True(view.MaxLength >= 1024);
        (Tensor ids, Tensor last) = view.Pack([[1, 2, 3], [4, 5, 6, 7, 8]]);
        Dictionary<string, Tensor> feeds = view.Inputs(ids, last);
        Assert.Equal(new long[] { 1, 1, 1, 0, 0, 1, 1, 1, 1, 1 }, feeds["attention_mask"].data<long>().ToArray());
        Assert.Equal(new long[] { 0, 1, 2, 3, 4, 0, 1, 2, 3, 4 }, feeds["position_ids"].data<long>().ToArray());
        Assert.Equal(new long[] { 2, 2, 0, 2 }, feeds["past_key_values.0.key"].shape);

        // Padding changes nothing at a row's last real token: the short row alone gives the same next-token logits.
        Tensor padded = view.LastLogits(ids, last)[0];
        (Tensor alone, Tensor aloneLast) = view.Pack([[1, 2, 3]]);
        Assert.True(torch.allclose(padded, view.LastLogits(alone, aloneLast)[0], rtol: 1e-5, atol: 1e-6));
        Assert.Equal(5, SequenceModelView.Create(graph, contextLength: 5).MaxLength);
    }

    [Fact]
    public void OnnxRuntimeOptimizedGpt2_RunsAtUploadAndThroughTheSequenceView()
    {
        ModelInventory inventory = Inspect(TinyGraphs.OptimizedGpt2());

        Assert.True(inventory.Executable, inventory.ExecutionError);
        Assert.Equal(ModelKindNames.CausalLm, inventory.Interface!.Kind);
        Assert.Equal(TinyGraphs.LmVocabulary, inventory.Interface.Vocabulary);
        Assert.Equal(1, inventory.OperatorCounts["com.microsoft::Attention"]);
        Assert.Equal(InputRoles.PastKeyValues, Role(inventory.Interface, "past_0"));

        using var scope = torch.NewDisposeScope();
        using OnnxGraph graph = OnnxModelLoader.Load(TinyGraphs.OptimizedGpt2().ToByteArray(), ComputeDevice.Cpu);
        SequenceModelView view = SequenceModelView.Create(graph, contextLength: 0);
        (Tensor ids, Tensor last) = view.Pack([[1, 2, 3], [4, 5, 6, 7, 8, 9]]);
        Assert.Equal(new long[] { 2, 2, 2, 0, 2 }, view.Inputs(ids, last)["past_0"].shape);

        // The mask hides the padding from attention, so a padded row's last-token logits equal the row's alone.
        Tensor padded = view.LastLogits(ids, last)[0];
        (Tensor alone, Tensor aloneLast) = view.Pack([[1, 2, 3]]);
        Assert.True(torch.allclose(padded, view.LastLogits(alone, aloneLast)[0], rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void SequenceView_OfAnEncoder_IsNotApplicableWithTheReason()
    {
        using OnnxGraph graph = OnnxModelLoader.Load(TinyGraphs.Encoder().ToByteArray(), ComputeDevice.Cpu);

        ProbeNotApplicableException error = Assert.Throws<ProbeNotApplicableException>(() => SequenceModelView.Create(graph, 0));

        Assert.Contains("encoder", error.Message, StringComparison.Ordinal);
        Assert.Contains("last_hidden_state", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeceptionProbes_OnAnEncoder_AreInconclusiveWithTheReasonAndNeverRun()
    {
        string evidence = Path.Combine(_directory, "prompts.jsonl");
        await File.WriteAllTextAsync(evidence, """{"role":"prompt","tokens":[1,2,3]}""" + "\n");
        using OnnxGraph graph = OnnxModelLoader.Load(TinyGraphs.Encoder().ToByteArray(), ComputeDevice.Cpu);
        IProbe[] probes = [new CueDivergenceProbe(), new TriggerSearchProbe(), new TokenClassDominanceProbe(), new LinearDeceptionProbe(), new ContrastConsistentSearchProbe()];

        foreach (IProbe probe in probes)
        {
            ProbeOutcome outcome = await probe.RunAsync(Fixtures.Sequence.ProbeHarness.Context(probe, graph, evidence), CancellationToken.None);

            Assert.Equal(Verdict.Inconclusive, outcome.Verdict);
            Assert.Contains("encoder", outcome.Summary, StringComparison.Ordinal);
        }
    }
}
