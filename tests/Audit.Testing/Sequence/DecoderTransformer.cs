using Audit.Evaluators.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Testing.Sequence;

/// <summary>Shape of a small decoder-only transformer: vocabulary, fixed context, width, heads, layers.</summary>
public sealed record DecoderTransformerConfig(int VocabularySize, int ContextLength, int ModelWidth, int Heads, int Layers, int MlpWidth)
{
    /// <summary>Throws when the shape is inconsistent (width not divisible by heads, sizes out of range).</summary>
    public void Validate()
    {
        if (VocabularySize < 2 || ContextLength < 1 || ModelWidth < 1 || Heads < 1 || Layers < 1 || MlpWidth < 1)
        {
            throw new ArgumentException("Transformer sizes must be positive (vocabulary at least 2).");
        }

        if (ModelWidth % Heads != 0)
        {
            throw new ArgumentException($"Model width {ModelWidth} is not divisible by {Heads} heads.");
        }
    }
}

/// <summary>
/// A pre-norm decoder-only transformer (token + learned position embeddings, causal multi-head attention,
/// ReLU MLP, final LayerNorm, linear head): <c>input_ids</c> int64 <c>[B, T]</c> → logits <c>[B, T, V]</c>.
/// </summary>
/// <remarks>
/// Built only from operations with a direct ONNX counterpart (Gather, MatMul, Add, LayerNormalization, Softmax,
/// Relu, Reshape, Transpose) so that <c>DecoderTransformerOnnxExporter</c> writes the same computation.
/// Every intermediate the probes read goes through a tap with a stable value name (<see cref="ValueNames"/>);
/// the exporter gives the ONNX values the same names, so activations captured on the module and on the
/// imported graph line up.
/// </remarks>
public sealed class DecoderTransformer : nn.Module<Tensor, Tensor>
{
    private readonly Embedding tokens;
    private readonly Parameter positions;
    private readonly ModuleList<DecoderBlock> blocks;
    private readonly LayerNorm finalNorm;
    private readonly Linear head;
    private readonly Tensor causalMask;

    /// <summary>Creates the module with freshly initialised weights (seed libtorch first for reproducibility).</summary>
    public DecoderTransformer(DecoderTransformerConfig config)
        : base("decoder_transformer")
    {
        ArgumentNullException.ThrowIfNull(config);
        config.Validate();
        Config = config;
        tokens = nn.Embedding(config.VocabularySize, config.ModelWidth);
        positions = new Parameter(torch.randn(config.ContextLength, config.ModelWidth).Mul(0.02f));
        blocks = new ModuleList<DecoderBlock>(Enumerable.Range(0, config.Layers).Select(i => new DecoderBlock($"blocks.{i}", config)).ToArray());
        finalNorm = nn.LayerNorm(config.ModelWidth);
        head = nn.Linear(config.ModelWidth, config.VocabularySize);

        // Additive mask: 0 on and below the diagonal, a large negative number above, so Softmax gives future positions no weight.
        causalMask = torch.triu(HeldScalars.Full([config.ContextLength, config.ContextLength], -1e9f), diagonal: 1);
        RegisterComponents();
        register_buffer("causal_mask", causalMask, persistent: false);
    }

    /// <summary>The shape this module was built with.</summary>
    public DecoderTransformerConfig Config { get; }

    /// <summary>Token embedding table <c>[V, D]</c>.</summary>
    public Tensor TokenEmbedding => tokens.weight!;

    /// <summary>Position embedding table <c>[context, D]</c>.</summary>
    public Tensor PositionEmbedding => positions;

    /// <summary>The blocks in order.</summary>
    public IReadOnlyList<DecoderBlock> Blocks => [.. blocks];

    /// <summary>Final LayerNorm before the head.</summary>
    public LayerNorm FinalNorm => finalNorm;

    /// <summary>Output projection <c>[V, D]</c> with bias.</summary>
    public Linear Head => head;

    /// <summary>Additive causal mask <c>[context, context]</c>.</summary>
    public Tensor CausalMask => causalMask;

    /// <summary>Value names the module taps, in computation order.</summary>
    public IReadOnlyList<string> ValueNames =>
    [
        "embed", .. Enumerable.Range(0, Config.Layers).SelectMany(i => new[] { $"blocks.{i}.attn", $"blocks.{i}.resid_mid", $"blocks.{i}.mlp", $"blocks.{i}.out" }),
        "final_norm",
    ];

    /// <inheritdoc/>
    public override Tensor forward(Tensor input) => Run(input, null);

    /// <summary>
    /// Runs the model; <paramref name="tap"/> sees every named value and returns it or a replacement
    /// (activation capture and patching without hooks).
    /// </summary>
    public Tensor Run(Tensor inputIds, Func<string, Tensor, Tensor>? tap)
    {
        ArgumentNullException.ThrowIfNull(inputIds);
        long length = inputIds.shape[1];
        if (length > Config.ContextLength)
        {
            throw new ArgumentException($"Sequence length {length} exceeds the context of {Config.ContextLength}.", nameof(inputIds));
        }

        Func<string, Tensor, Tensor> step = tap ?? ((_, value) => value);
        Tensor hidden = step("embed", tokens.forward(inputIds).Add(positions[..(int)length]));
        Tensor mask = causalMask[..(int)length, ..(int)length];
        foreach (DecoderBlock block in blocks)
        {
            hidden = block.Forward(hidden, mask, step);
        }

        hidden = step("final_norm", finalNorm.forward(hidden));
        return head.forward(hidden);
    }
}

/// <summary>One pre-norm block: <c>x + Attn(LN(x))</c>, then <c>h + MLP(LN(h))</c>.</summary>
public sealed class DecoderBlock : nn.Module
{
    private readonly LayerNorm attentionNorm;
    private readonly Linear query;
    private readonly Linear key;
    private readonly Linear value;
    private readonly Linear output;
    private readonly LayerNorm mlpNorm;
    private readonly Linear up;
    private readonly Linear down;
    private readonly int heads;
    private readonly string prefix;

    /// <summary>Creates a block; <paramref name="prefix"/> names its tapped values (e.g. <c>blocks.0</c>).</summary>
    public DecoderBlock(string prefix, DecoderTransformerConfig config)
        : base(prefix)
    {
        ArgumentNullException.ThrowIfNull(config);
        this.prefix = prefix;
        heads = config.Heads;
        attentionNorm = nn.LayerNorm(config.ModelWidth);
        query = nn.Linear(config.ModelWidth, config.ModelWidth);
        key = nn.Linear(config.ModelWidth, config.ModelWidth);
        value = nn.Linear(config.ModelWidth, config.ModelWidth);
        output = nn.Linear(config.ModelWidth, config.ModelWidth);
        mlpNorm = nn.LayerNorm(config.ModelWidth);
        up = nn.Linear(config.ModelWidth, config.MlpWidth);
        down = nn.Linear(config.MlpWidth, config.ModelWidth);
        RegisterComponents();
    }

    /// <summary>Number of attention heads.</summary>
    public int Heads => heads;

    public LayerNorm AttentionNorm => attentionNorm;

    public Linear Query => query;

    public Linear Key => key;

    public Linear Value => value;

    public Linear Output => output;

    public LayerNorm MlpNorm => mlpNorm;

    public Linear Up => up;

    public Linear Down => down;

    internal Tensor Forward(Tensor hidden, Tensor mask, Func<string, Tensor, Tensor> step)
    {
        long batch = hidden.shape[0], length = hidden.shape[1], width = hidden.shape[2];
        long headWidth = width / heads;
        Tensor normed = attentionNorm.forward(hidden);

        // [B, T, D] → [B, H, T, D/H]
        Tensor Split(Tensor x) => x.reshape(batch, length, heads, headWidth).transpose(1, 2);
        Tensor q = Split(query.forward(normed));
        Tensor k = Split(key.forward(normed));
        Tensor v = Split(value.forward(normed));
        Tensor scores = torch.matmul(q, k.transpose(2, 3)).Mul((float)(1.0 / Math.Sqrt(headWidth))).Add(mask);
        Tensor mixed = torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(batch, length, width);
        Tensor attention = step($"{prefix}.attn", output.forward(mixed));
        Tensor middle = step($"{prefix}.resid_mid", hidden.Add(attention));
        Tensor mlp = step($"{prefix}.mlp", down.forward(torch.nn.functional.relu(up.forward(mlpNorm.forward(middle)))));
        return step($"{prefix}.out", middle.Add(mlp));
    }
}
