using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Probes.Trojans;
using Audit.Evaluators.Tests.Fixtures;
using Audit.ModelZoo;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Shadows of two model-zoo design models, built from their ONNX graphs: an MLP (channels-first, no normalisation) and
/// a channels-last CNN with BatchNormalization (seen through <see cref="ChannelsFirstView"/>). A shadow must be the
/// same architecture with weights of its own (its outputs differ from the model's before training), must learn the
/// model's labels on the clean inputs, must leave the audited graph untouched, and must be the same for the same seed.
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ShadowModelTests(ITestOutputHelper output)
{
    // Twenty passes over the 1,000 evidence inputs at batch 64, as the scan's default.
    private static readonly ShadowSettings Settings = new(Steps: 320, BatchSize: 64, LearningRate: 3e-3, Seed: 5);

    [Theory]
    [InlineData(37, 0.9)] // mlp-unit-clean
    [InlineData(134, 0.8)] // cnn-bn-nhwc-unit-clean
    public void Shadow_IsTheAuditedArchitectureWithItsOwnWeights_AndLearnsTheModelsLabels(int seed, double agreement)
    {
        if (!FashionMnistImages.Available())
        {
            return;
        }

        (string onnx, string evidence) = ZooModel(seed);
        using var source = new OnnxModelSource(onnx, ComputeDevice.Cpu);
        IDifferentiableModel model = source.Load(CancellationToken.None);
        DatasetArtifact dataset = SafetensorsDataset.Read(evidence).ArrangedFor(model);
        using var scope = torch.NewDisposeScope();
        Tensor inputs = dataset.InputsTensor(torch.CPU);
        using var noGrad = torch.no_grad();
        Tensor before = model.Forward(inputs).clone();
        Tensor labels = before.argmax(1);

        Tensor shadowLogits;
        Tensor untrained;
        using (var enabled = torch.enable_grad())
        {
            using ShadowModel shadow = ShadowModel.TryTrain(model, inputs, labels, Settings with { Steps = 0 }, CancellationToken.None)!;
            untrained = shadow.Forward(inputs).clone();
            Assert.True(shadow.TrainingAgreement < 0.5, $"an untrained shadow agrees on {shadow.TrainingAgreement:P0}");
        }

        using (var enabled = torch.enable_grad())
        {
            using ShadowModel trained = ShadowModel.TryTrain(model, inputs, labels, Settings, CancellationToken.None)!;
            output.WriteLine($"seed {seed}: {trained.Reinitialised} initializers drawn afresh, agreement {trained.TrainingAgreement:P1}");
            Assert.True(trained.Reinitialised >= 4, $"{trained.Reinitialised} initializers re-initialised");
            Assert.True(trained.TrainingAgreement >= agreement, $"agreement {trained.TrainingAgreement:P1}");
            shadowLogits = trained.Forward(inputs).clone();
        }

        // Its own weights: before training it does not imitate the model at all.
        Assert.True((untrained - before).abs().mean().item<float>() > 0.1f);

        // The audited graph is untouched by the shadow's training and disposal.
        Assert.Equal(0f, (before - model.Forward(inputs)).abs().max().item<float>());

        // The same seed gives the same shadow; another seed another one.
        using (var enabled = torch.enable_grad())
        {
            using ShadowModel again = ShadowModel.TryTrain(model, inputs, labels, Settings, CancellationToken.None)!;
            Assert.Equal(0f, (shadowLogits - again.Forward(inputs)).abs().max().item<float>());
            using ShadowModel other = ShadowModel.TryTrain(model, inputs, labels, Settings with { Seed = 6 }, CancellationToken.None)!;
            Assert.False(torch.allclose(shadowLogits, other.Forward(inputs)), "another seed gave the same shadow");
        }
    }

    [Fact]
    public void AModelThatIsNotAnImportedGraph_HasNoShadow()
    {
        using var scope = torch.NewDisposeScope();
        using var notAGraph = new ChannelsFirstView(new FixedImageModel());
        Tensor inputs = torch.zeros(4, 1, 2, 2);
        Assert.Null(ShadowModel.TryTrain(notAGraph, inputs, torch.zeros(4, ScalarType.Int64), Settings, CancellationToken.None));
    }

    private static (string Onnx, string Evidence) ZooModel(int seed)
    {
        ZooRecipe recipe = ZooProbeRuns.DesignRecipe(seed);
        var trainer = new ZooTrainer(Path.Combine(TrojanFixtures.CacheDirectory, "model-zoo"));
        using (FixtureLock.Acquire(TrojanFixtures.CacheDirectory))
        {
            ZooModel model = trainer.GetOrTrain(recipe);
            return (Path.Combine(trainer.ModelFolder, model.OnnxFile), trainer.Evidence(recipe));
        }
    }

    /// <summary>A channels-last image model that is no ONNX graph (a stand-in with no weights).</summary>
    private sealed class FixedImageModel : IDifferentiableModel
    {
        public IReadOnlyList<ValueSpec> Inputs { get; } = [new("x", ScalarType.Float32, [-1, 2, 2, 1], [null, null, null, null])];

        public IReadOnlyList<ValueSpec> Outputs { get; } = [new("y", ScalarType.Float32, [-1, 2], [null, null])];

        public IReadOnlyList<string> ValueNames { get; } = ["x", "y"];

        public ComputeDevice Device => ComputeDevice.Cpu;

        public Tensor Forward(Tensor input) => input.flatten(1)[.., ..2];

        public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyCollection<string>? capture = null, IReadOnlyDictionary<string, Tensor>? replace = null) =>
            new Dictionary<string, Tensor> { ["y"] = Forward(inputs["x"]) };

        public void Dispose()
        {
        }
    }
}
