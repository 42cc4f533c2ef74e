using Audit.Testing.Sequence;
using Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing.Onnx;

/// <summary>
/// Exports a <see cref="DecoderTransformer"/> to ONNX (opset 17) through <see cref="OnnxGraphBuilder"/>:
/// <c>input_ids</c> int64 <c>[batch, context]</c> → <c>logits</c> float32 <c>[batch, context, V]</c>.
/// </summary>
/// <remarks>
/// Uses only Gather, Add, Mul, MatMul, LayerNormalization, Reshape, Transpose, Softmax and Relu, with the causal mask
/// as a constant additive <c>[context, context]</c> tensor; the sequence length is fixed to the context so no shape
/// arithmetic is needed (shorter prompts are right-padded, which a causal model never sees at earlier positions).
/// The values the module taps (<c>embed</c>, <c>blocks.i.attn</c>, <c>blocks.i.resid_mid</c>, <c>blocks.i.mlp</c>,
/// <c>blocks.i.out</c>, <c>final_norm</c>) keep their names, so probes capture the same activations on both.
/// </remarks>
public static class DecoderTransformerOnnxExporter
{
    /// <summary>LayerNorm epsilon of TorchSharp's default <c>nn.LayerNorm</c>.</summary>
    private const float Epsilon = 1e-5f;

    /// <summary>Builds the ONNX model.</summary>
    public static ModelProto Export(DecoderTransformer model)
    {
        ArgumentNullException.ThrowIfNull(model);
        DecoderTransformerConfig config = model.Config;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var builder = new OnnxGraphBuilder("decoder_transformer");
        string ids = builder.AddInput("input_ids", ScalarType.Int64, "batch", config.ContextLength);

        string tokens = builder.AddNode("Gather", [builder.AddInitializer("tokens.weight", model.TokenEmbedding), ids], ["embed.tokens"], "")[0];
        string hidden = builder.AddNode("Add", [tokens, builder.AddInitializer("positions", model.PositionEmbedding)], ["embed"], "")[0];
        string mask = builder.AddInitializer("causal_mask", model.CausalMask);
        int headWidth = config.ModelWidth / config.Heads;
        string headShape = builder.AddInitializer("head_shape", [0, 0, config.Heads, headWidth]);
        string mergedShape = builder.AddInitializer("merged_shape", [0, 0, config.ModelWidth]);
        string scale = builder.AddInitializer("attention_scale", [(float)(1.0 / Math.Sqrt(headWidth))]);

        for (int i = 0; i < config.Layers; i++)
        {
            DecoderBlock block = model.Blocks[i];
            string prefix = $"blocks.{i}";
            string normed = LayerNorm(builder, hidden, block.AttentionNorm, $"{prefix}.attention_norm");
            string q = builder.AddNode("Transpose", [builder.AddNode("Reshape", [Linear(builder, normed, block.Query, $"{prefix}.query"), headShape])], OnnxAttributes.Ints("perm", 0, 2, 1, 3));
            string kT = builder.AddNode("Transpose", [builder.AddNode("Reshape", [Linear(builder, normed, block.Key, $"{prefix}.key"), headShape])], OnnxAttributes.Ints("perm", 0, 2, 3, 1));
            string v = builder.AddNode("Transpose", [builder.AddNode("Reshape", [Linear(builder, normed, block.Value, $"{prefix}.value"), headShape])], OnnxAttributes.Ints("perm", 0, 2, 1, 3));
            string scores = builder.AddNode("Add", [builder.AddNode("Mul", [builder.AddNode("MatMul", [q, kT]), scale]), mask]);
            string weights = builder.AddNode("Softmax", [scores], OnnxAttributes.Int("axis", -1));
            string mixed = builder.AddNode("MatMul", [weights, v]);
            string merged = builder.AddNode("Reshape", [builder.AddNode("Transpose", [mixed], OnnxAttributes.Ints("perm", 0, 2, 1, 3)), mergedShape]);
            string attention = Linear(builder, merged, block.Output, $"{prefix}.output", $"{prefix}.attn");
            string middle = builder.AddNode("Add", [hidden, attention], [$"{prefix}.resid_mid"], "")[0];
            string up = builder.AddNode("Relu", [Linear(builder, LayerNorm(builder, middle, block.MlpNorm, $"{prefix}.mlp_norm"), block.Up, $"{prefix}.up")]);
            string mlp = Linear(builder, up, block.Down, $"{prefix}.down", $"{prefix}.mlp");
            hidden = builder.AddNode("Add", [middle, mlp], [$"{prefix}.out"], "")[0];
        }

        string final = LayerNorm(builder, hidden, model.FinalNorm, "final_norm", "final_norm");
        Linear(builder, final, model.Head, "head", "logits");
        builder.AddOutput("logits", ScalarType.Float32, "batch", config.ContextLength, config.VocabularySize);
        return builder.Build();
    }

    /// <summary>Exports and writes the model to <paramref name="path"/>.</summary>
    public static void Save(DecoderTransformer model, string path) =>
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(Export(model)));

    /// <summary><c>x · Wᵀ + b</c> as MatMul with the transposed weight stored, then Add (Gemm is 2-D only).</summary>
    private static string Linear(OnnxGraphBuilder builder, string input, Linear linear, string path, string? outputName = null)
    {
        string product = builder.AddNode("MatMul", [input, builder.AddInitializer($"{path}.weight_t", linear.weight!.t())]);
        string bias = builder.AddInitializer($"{path}.bias", linear.bias!);
        return outputName is null
            ? builder.AddNode("Add", [product, bias])
            : builder.AddNode("Add", [product, bias], [outputName], "")[0];
    }

    private static string LayerNorm(OnnxGraphBuilder builder, string input, LayerNorm norm, string path, string? outputName = null)
    {
        string[] inputs = [input, builder.AddInitializer($"{path}.weight", norm.weight!), builder.AddInitializer($"{path}.bias", norm.bias!)];
        AttributeProto[] attributes = [OnnxAttributes.Int("axis", -1), OnnxAttributes.Float("epsilon", Epsilon)];
        return outputName is null
            ? builder.AddNode("LayerNormalization", inputs, attributes)
            : builder.AddNode("LayerNormalization", inputs, [outputName], "", attributes)[0];
    }
}
