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
    public static ModelProto Export(DecoderTransformer model) => Build(model, multiInput: false);

    /// <summary>
    /// Builds the model in the form Hugging Face exporters (transformers.onnx, optimum) give a causal LM:
    /// <c>input_ids</c>, <c>attention_mask</c> and <c>position_ids</c>, each int64 <c>[batch, sequence]</c> with both
    /// dimensions symbolic, → <c>logits</c> <c>[batch, sequence, V]</c>, opset 17. Positions are gathered from the
    /// table by <c>position_ids</c>; the causal mask is sliced to the run's length (Shape, Slice) and the padding mask
    /// (<c>attention_mask</c> 0) adds −1e9 to padded keys. On right-padded prompts read at their last real token the
    /// logits equal <see cref="Export"/>'s: a causal query never attends to the later, padded keys anyway.
    /// </summary>
    public static ModelProto ExportMultiInput(DecoderTransformer model) => Build(model, multiInput: true);

    private static ModelProto Build(DecoderTransformer model, bool multiInput)
    {
        ArgumentNullException.ThrowIfNull(model);
        DecoderTransformerConfig config = model.Config;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var builder = new OnnxGraphBuilder("decoder_transformer");
        OnnxDim sequence = multiInput ? OnnxDim.FromString("sequence") : OnnxDim.FromInt64(config.ContextLength);
        string ids = builder.AddInput("input_ids", ScalarType.Int64, "batch", sequence);

        string tokens = builder.AddNode("Gather", [builder.AddInitializer("tokens.weight", model.TokenEmbedding), ids], ["embed.tokens"], "")[0];
        string mask;
        string hidden;
        if (multiInput)
        {
            string attentionMask = builder.AddInput("attention_mask", ScalarType.Int64, "batch", sequence);
            string positionIds = builder.AddInput("position_ids", ScalarType.Int64, "batch", sequence);
            string positions = builder.AddNode("Gather", [builder.AddInitializer("positions", model.PositionEmbedding), positionIds]);
            hidden = builder.AddNode("Add", [tokens, positions], ["embed"], "")[0];

            // Causal [T, T] sliced from the stored [context, context]; padding [B, 1, 1, T]: −1e9 where the mask is 0.
            string length = builder.AddNode("Shape", [ids], OnnxAttributes.Int("start", 1), OnnxAttributes.Int("end", 2));
            string ends = builder.AddNode("Concat", [length, length], OnnxAttributes.Int("axis", 0));
            string causal = builder.AddNode("Slice", [builder.AddInitializer("causal_mask", model.CausalMask), builder.AddInitializer("slice_starts", [0, 0], 2), ends, builder.AddInitializer("slice_axes", [0, 1], 2)]);
            string keep = builder.AddNode("Cast", [attentionMask], OnnxAttributes.Int("to", OnnxGraphBuilder.DataTypeOf(ScalarType.Float32)));
            string dropped = builder.AddNode("Sub", [builder.AddInitializer("one", [1f]), keep]);
            string padding = builder.AddNode("Unsqueeze", [builder.AddNode("Mul", [dropped, builder.AddInitializer("masked_score", [-1e9f])]), builder.AddInitializer("mask_axes", [1, 2], 2)]);
            mask = builder.AddNode("Add", [causal, padding]);
        }
        else
        {
            hidden = builder.AddNode("Add", [tokens, builder.AddInitializer("positions", model.PositionEmbedding)], ["embed"], "")[0];
            mask = builder.AddInitializer("causal_mask", model.CausalMask);
        }

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
        builder.AddOutput("logits", ScalarType.Float32, "batch", sequence, config.VocabularySize);
        return builder.Build();
    }

    /// <summary>Exports and writes the model to <paramref name="path"/>.</summary>
    public static void Save(DecoderTransformer model, string path) =>
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(Export(model)));

    /// <summary>Exports the multi-input form (<see cref="ExportMultiInput"/>) and writes it to <paramref name="path"/>.</summary>
    public static void SaveMultiInput(DecoderTransformer model, string path) =>
        File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(ExportMultiInput(model)));

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
