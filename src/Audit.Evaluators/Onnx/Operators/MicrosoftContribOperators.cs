using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Audit.Evaluators.Onnx.Operators;

/// <summary>
/// The <c>com.microsoft</c> operators ONNX Runtime's transformer optimiser writes for BERT- and GPT-2-style graphs
/// (semantics from onnxruntime's docs/ContribOperators.md): Gelu, FastGelu, BiasGelu, SkipLayerNormalization,
/// EmbedLayerNormalization, Attention and MultiHeadAttention. Every kernel is composed of differentiable libtorch
/// operations, because probes take gradients with respect to inputs and intermediate values.
/// </summary>
internal static class MicrosoftContribOperators
{
    // sqrt(2/pi), the tanh approximation's constant (Hendrycks and Gimpel 2016), as ONNX Runtime writes it.
    private const double TanhGeluScale = 0.7978845608028654;
    private const double TanhGeluCubic = 0.044715;

    public static void Register(OperatorRegistry r)
    {
        r.AddMicrosoft("Gelu", _ => i => [F.gelu(i[0]!)]);
        r.AddMicrosoft("BiasGelu", _ => i => [F.gelu(i[0]!.Add(i[1]!))]);
        r.AddMicrosoft("FastGelu", _ => i =>
        {
            Tensor x = i.Length > 1 && i[1] is { } bias ? i[0]!.Add(bias) : i[0]!;
            Tensor inner = x.Add(x.Pow(3).Mul(TanhGeluCubic)).Mul(TanhGeluScale);
            return [x.Mul(0.5).mul(inner.tanh().Add(1))];
        });
        r.AddMicrosoft("SkipLayerNormalization", SkipLayerNormalization);
        r.AddMicrosoft("EmbedLayerNormalization", EmbedLayerNormalization);
        r.AddMicrosoft("Attention", Attention);
        r.AddMicrosoft("MultiHeadAttention", MultiHeadAttention);
    }

    private static Tensor? Optional(Tensor?[] i, int index) => index < i.Length ? i[index] : null;

    /// <summary>Layer normalization over the last axis, with the mean and 1/σ when asked (float32 statistics).</summary>
    private static (Tensor Y, Tensor Mean, Tensor InvStd) Normalize(Tensor x, Tensor gamma, Tensor? beta, double epsilon)
    {
        Tensor mean = x.mean([-1], keepdim: true);
        Tensor centered = x.sub(mean);
        Tensor invStd = centered.Square().mean([-1], keepdim: true).Add(epsilon).rsqrt();
        Tensor y = centered.mul(invStd).mul(gamma);
        return (beta is null ? y : y.Add(beta), mean, invStd);
    }

    private static OnnxKernel SkipLayerNormalization(NodeContext ctx)
    {
        double epsilon = ctx.Float("epsilon", 1e-12f);
        return i =>
        {
            // input + skip (+ bias), then LayerNorm(gamma, beta) over the hidden axis; skip may broadcast over the batch.
            Tensor sum = i[0]!.Add(i[1]!);
            if (Optional(i, 4) is { } bias)
            {
                sum = sum.Add(bias);
            }

            (Tensor y, Tensor mean, Tensor invStd) = Normalize(sum, i[2]!, Optional(i, 3), epsilon);
            return [y, mean, invStd, sum];
        };
    }

    private static OnnxKernel EmbedLayerNormalization(NodeContext ctx)
    {
        double epsilon = ctx.Float("epsilon", 1e-12f);
        bool maskIndexOut = ctx.Int("mask_index_type", 1) != 0;
        return i =>
        {
            Tensor ids = i[0]!.to_type(ScalarType.Int64);
            long batch = ids.shape[0], length = ids.shape[1];
            Tensor words = i[2]!, positionTable = i[3]!;
            Tensor positions = Optional(i, 8) is { } given
                ? given.to_type(ScalarType.Int64).expand(batch, length)
                : HeldScalars.Arange(length, ScalarType.Int64, ids.device).unsqueeze(0).expand(batch, length);
            Tensor sum = words.index_select(0, ids.flatten()).view(batch, length, -1)
                .Add(positionTable.index_select(0, positions.flatten()).view(batch, length, -1));
            if (i[1] is { } segments && Optional(i, 4) is { } segmentTable)
            {
                sum = sum.Add(segmentTable.index_select(0, segments.to_type(ScalarType.Int64).flatten()).view(batch, length, -1));
            }

            (Tensor y, _, _) = Normalize(sum, i[5]!, Optional(i, 6), epsilon);

            // mask_index is the count of attended tokens per row (the 1D right-padding form Attention reads); without a
            // mask ONNX Runtime writes zeros.
            Tensor maskIndex = Optional(i, 7) is { } mask
                ? mask.Ne(0).sum(1).to_type(ScalarType.Int32)
                : torch.zeros(batch, dtype: ScalarType.Int32, device: ids.device);
            return maskIndexOut ? [y, maskIndex, sum] : [y, torch.empty(0, dtype: ScalarType.Int32, device: ids.device), sum];
        };
    }

    private static OnnxKernel Attention(NodeContext ctx)
    {
        long heads = ctx.Int("num_heads", 0);
        if (heads <= 0)
        {
            throw ctx.Unsupported("num_heads missing");
        }

        if (ctx.Int("do_rotary", 0) != 0 || ctx.Int("past_present_share_buffer", 0) != 0 || ctx.HasInput(6))
        {
            throw ctx.Unsupported("rotary embedding or a shared past/present buffer");
        }

        bool causal = ctx.Int("unidirectional", 0) != 0;
        double filter = ctx.Float("mask_filter_value", -10000f);
        long[]? sizes = ctx.Ints("qkv_hidden_sizes");
        double? scale = ctx.Has("scale") ? ctx.Float("scale", 0) : null;
        return i =>
        {
            Tensor x = i[0]!, weights = i[1]!;
            long batch = x.shape[0], length = x.shape[1];
            long qSize = sizes?[0] ?? weights.shape[1] / 3, kSize = sizes?[1] ?? qSize, vSize = sizes?[2] ?? weights.shape[1] - qSize - kSize;
            Tensor projected = x.matmul(weights);
            if (Optional(i, 2) is { } bias)
            {
                projected = projected.Add(bias);
            }

            Tensor[] qkv = projected.split([qSize, kSize, vSize], -1);
            Tensor q = Heads(qkv[0], heads), k = Heads(qkv[1], heads), v = Heads(qkv[2], heads);
            long past = 0;
            if (Optional(i, 4) is { } pastState)
            {
                past = pastState.shape[3];
                k = torch.cat([pastState[0], k], 2);
                v = torch.cat([pastState[1], v], 2);
            }

            long total = past + length;
            Tensor? additive = MaskIndex(Optional(i, 3), batch, total, filter, x.dtype, x.device);
            Tensor output = Attend(q, k, v, scale, additive, Optional(i, 5), causal, past, filter);
            return [Merge(output), torch.stack([k, v], 0)];
        };
    }

    private static OnnxKernel MultiHeadAttention(NodeContext ctx)
    {
        long heads = ctx.Int("num_heads", 0);
        if (heads <= 0)
        {
            throw ctx.Unsupported("num_heads missing");
        }

        if (!ctx.HasInput(1) || !ctx.HasInput(2) || ctx.HasInput(8) || ctx.HasInput(9))
        {
            throw ctx.Unsupported("packed QKV/KV, past_sequence_length or cache_indirection (export with separate query, key and value)");
        }

        bool causal = ctx.Int("unidirectional", 0) != 0;
        double filter = ctx.Float("mask_filter_value", -10000f);
        double? scale = ctx.Has("scale") ? ctx.Float("scale", 0) : null;
        return i =>
        {
            Tensor query = i[0]!, key = i[1]!, value = i[2]!;
            if (query.dim() != 3 || key.dim() != 3 || value.dim() != 3)
            {
                throw new UnsupportedOperatorException(["com.microsoft.MultiHeadAttention: query, key and value other than [B, S, D]"]);
            }

            if (Optional(i, 3) is { } bias)
            {
                long d = query.shape[2], dk = key.shape[2];
                query = query.Add(bias[..(int)d]);
                key = key.Add(bias[(int)d..(int)(d + dk)]);
                value = value.Add(bias[(int)(d + dk)..]);
            }

            long batch = query.shape[0], length = query.shape[1];
            Tensor q = Heads(query, heads), k = Heads(key, heads), v = Heads(value, heads);
            long past = 0;
            if (Optional(i, 6) is { } pastKey && Optional(i, 7) is { } pastValue)
            {
                past = pastKey.shape[2];
                k = torch.cat([pastKey, k], 2);
                v = torch.cat([pastValue, v], 2);
            }

            long total = k.shape[2];
            Tensor? additive = MaskIndex(Optional(i, 4), batch, total, filter, query.dtype, query.device);
            Tensor output = Attend(q, k, v, scale, additive, Optional(i, 5), causal, past, filter);
            return [Merge(output), k, v];
        };
    }

    /// <summary>[B, S, N·H] → [B, N, S, H].</summary>
    private static Tensor Heads(Tensor x, long heads) => x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);

    /// <summary>[B, N, S, H] → [B, S, N·H].</summary>
    private static Tensor Merge(Tensor x) => x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1);

    /// <summary>
    /// The additive mask [B, 1|S, T] (0 where attended, the filter value where masked) for the index formats both
    /// attention operators accept: raw 0/1 masks [B, T] or [B, S, T], right-padding lengths [B], and left-padding
    /// end/start positions [2B].
    /// </summary>
    private static Tensor? MaskIndex(Tensor? mask, long batch, long total, double filter, ScalarType type, Device device)
    {
        if (mask is null)
        {
            return null;
        }

        Tensor keep;
        switch (mask.dim())
        {
            case 2:
                keep = mask.Ne(0).unsqueeze(1);
                break;
            case 3:
                keep = mask.Ne(0);
                break;
            case 1 when mask.shape[0] == batch:
            {
                Tensor positions = HeldScalars.Arange(total, ScalarType.Int64, device).unsqueeze(0);
                keep = positions.lt(mask.to_type(ScalarType.Int64).unsqueeze(1)).unsqueeze(1);
                break;
            }

            case 1 when mask.shape[0] == 2 * batch:
            {
                Tensor positions = HeldScalars.Arange(total, ScalarType.Int64, device).unsqueeze(0);
                Tensor bounds = mask.to_type(ScalarType.Int64);
                Tensor end = bounds[..(int)batch].unsqueeze(1), start = bounds[(int)batch..].unsqueeze(1);
                keep = positions.lt(end).logical_and(positions.ge(start)).unsqueeze(1);
                break;
            }

            default:
                throw new UnsupportedOperatorException([$"com.microsoft attention: mask_index of shape [{string.Join(", ", mask.shape)}]"]);
        }

        return torch.zeros(1, dtype: type, device: device).where(keep, filter).unsqueeze(1);
    }

    /// <summary>softmax(q·kᵀ·scale + bias + mask (+ causal mask)) · v, all on [B, N, ·, ·] tensors.</summary>
    private static Tensor Attend(Tensor q, Tensor k, Tensor v, double? scale, Tensor? mask, Tensor? attentionBias, bool causal, long past, double filter)
    {
        double factor = scale is { } s && s != 0 ? s : 1 / Math.Sqrt(q.shape[3]);
        Tensor scores = q.matmul(k.transpose(2, 3)).Mul(factor);
        if (attentionBias is not null)
        {
            scores = scores.Add(attentionBias);
        }

        if (mask is not null)
        {
            scores = scores.Add(mask);
        }

        if (causal)
        {
            long length = q.shape[2], total = k.shape[2];
            // Query i sits at absolute position past + i and sees keys 0..past + i.
            Tensor future = torch.ones(length, total, dtype: ScalarType.Bool, device: q.device).triu(past + 1);
            scores = scores.MaskedFill(future, filter);
        }

        return scores.softmax(-1).matmul(v);
    }
}
