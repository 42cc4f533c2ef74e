using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Testing.Onnx;
using Audit.Testing.Sequence;
using TorchSharp;

/// <summary>
/// Writes the cost benchmark's inputs: a causal transformer of about 10 M parameters with <b>random weights</b> (seed 1;
/// cost does not depend on what the weights learned) exported in the Hugging Face multi-input form, and prompt
/// evidence of the fixtures' size (64 cue pairs, 64 controls, 400 statements, 200 contrast pairs, 64 prompts) whose
/// every sequence is exactly <c>context</c> tokens long, so the audit runs at that context.
/// </summary>
internal static class LargeTransformer
{
    public static void Write(string directory, int context, int seed)
    {
        Directory.CreateDirectory(directory);
        var config = new DecoderTransformerConfig(VocabularySize: 4096, ContextLength: context, ModelWidth: 256, Heads: 8, Layers: 10, MlpWidth: 1024);
        torch.manual_seed(seed);
        using var model = new DecoderTransformer(config);
        model.eval();
        long parameters = model.parameters().Sum(p => p.numel());
        DecoderTransformerOnnxExporter.SaveMultiInput(model, Path.Combine(directory, "model.onnx"));

        var random = new Random(seed);
        int[] Tokens() => [.. Enumerable.Range(0, context).Select(_ => random.Next(config.VocabularySize))];
        JsonArray Array(int[] tokens) => [.. tokens.Select(t => (JsonNode)JsonValue.Create(t))];
        int[] Edit(int[] tokens)
        {
            int[] edited = (int[])tokens.Clone();
            int at = random.Next(context - 4);
            for (int k = 0; k < 3; k++)
            {
                edited[at + k] = random.Next(config.VocabularySize);
            }

            return edited;
        }

        var lines = new List<string>();
        for (int i = 0; i < 64; i++)
        {
            int[] prompt = Tokens();
            lines.Add(new JsonObject { ["role"] = "pair", ["cue"] = "candidate tag", ["base"] = Array(prompt), ["cued"] = Array(Edit(prompt)) }.ToJsonString());
            lines.Add(new JsonObject { ["role"] = "control", ["base"] = Array(prompt), ["cued"] = Array(Edit(prompt)) }.ToJsonString());
        }

        for (int i = 0; i < 400; i++)
        {
            lines.Add(new JsonObject { ["role"] = "statement", ["tokens"] = Array(Tokens()), ["label"] = i % 2 == 0 }.ToJsonString());
        }

        for (int i = 0; i < 200; i++)
        {
            int[] positive = Tokens();
            int[] negative = (int[])positive.Clone();
            negative[^1] = (negative[^1] + 1) % config.VocabularySize;
            lines.Add(new JsonObject { ["role"] = "contrast", ["positive"] = Array(positive), ["negative"] = Array(negative), ["answers"] = new JsonArray(5, 6), ["label"] = i % 2 == 0 }.ToJsonString());
        }

        for (int i = 0; i < 64; i++)
        {
            lines.Add(new JsonObject { ["role"] = "prompt", ["tokens"] = Array(Tokens()) }.ToJsonString());
        }

        File.WriteAllLines(Path.Combine(directory, "evidence.jsonl"), lines);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{directory}: {parameters:N0} parameters, vocabulary {config.VocabularySize}, width {config.ModelWidth}, {config.Layers} layers, context {context}"));
    }
}
