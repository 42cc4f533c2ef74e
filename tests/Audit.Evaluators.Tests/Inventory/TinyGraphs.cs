using Google.Protobuf;
using Onnx;

namespace Audit.Evaluators.Tests.Inventory;

/// <summary>
/// Small hand-built ONNX graphs with the interfaces public models bring: NCHW and channels-last (tf2onnx) images,
/// feature vectors, a Hugging Face-style causal LM (input_ids, attention_mask, position_ids, an empty past) and a
/// sentence-transformer-style encoder (last_hidden_state, no logits).
/// </summary>
public static class TinyGraphs
{
    public const int LmVocabulary = 11;
    public const int EncoderHidden = 6;

    public static ModelProto ImageNchw() => Image(channelsLast: false);

    public static ModelProto ImageNhwc() => Image(channelsLast: true);

    private static ModelProto Image(bool channelsLast)
    {
        var g = new GraphProto { Name = channelsLast ? "nhwc" : "nchw" };
        g.Input.Add(channelsLast ? Value("image", 1, "N", "8", "8", "3") : Value("image", 1, "N", "3", "8", "8"));
        string x = "image";
        if (channelsLast)
        {
            g.Node.Add(Node("Transpose", ["image"], ["nchw"], Ints("perm", 0, 3, 1, 2)));
            x = "nchw";
        }

        g.Initializer.Add(Weights("conv_w", 0.1f, 4, 3, 3, 3));
        g.Node.Add(Node("Conv", [x, "conv_w"], ["conv"]));
        g.Node.Add(Node("GlobalAveragePool", ["conv"], ["pooled"]));
        g.Node.Add(Node("Flatten", ["pooled"], ["flat"]));
        g.Initializer.Add(Weights("fc", 0.2f, 4, 10));
        g.Node.Add(Node("MatMul", ["flat", "fc"], ["logits"]));
        g.Output.Add(Value("logits", 1, "N", "10"));
        return Model(g);
    }

    public static ModelProto Vector()
    {
        var g = new GraphProto { Name = "vector" };
        g.Input.Add(Value("features", 1, "batch", "5"));
        g.Initializer.Add(Weights("w", 0.3f, 5, 3));
        g.Node.Add(Node("MatMul", ["features", "w"], ["scores"]));
        g.Output.Add(Value("scores", 1, "batch", "3"));
        return Model(g);
    }

    /// <summary>
    /// Valid as data and made of supported operators, but its Expand target [4] does not broadcast with [N, 5]: it
    /// fails only when run. (The failure is raised by the importer, not inside libtorch.)
    /// </summary>
    public static ModelProto VectorThatFailsWhenRun()
    {
        var g = new GraphProto { Name = "fails" };
        g.Input.Add(Value("features", 1, "batch", "5"));
        g.Initializer.Add(Longs("target", 4));
        g.Node.Add(Node("Expand", ["features", "target"], ["expanded"]));
        g.Output.Add(Value("expanded", 1, "batch", "5"));
        return Model(g);
    }

    /// <summary>
    /// logits[b, t] = (wte[ids] + wpe[positions]) · mask · head, with every dimension symbolic and a past input that
    /// only passes through to present (so an empty past is valid).
    /// </summary>
    public static ModelProto CausalLm()
    {
        var g = new GraphProto { Name = "lm" };
        g.Input.Add(Value("input_ids", 7, "batch", "sequence"));
        g.Input.Add(Value("attention_mask", 7, "batch", "sequence"));
        g.Input.Add(Value("position_ids", 7, "batch", "sequence"));
        g.Input.Add(Value("past_key_values.0.key", 1, "batch", "2", "past_sequence", "2"));
        g.Initializer.Add(Weights("wte", 0.5f, LmVocabulary, 4));
        g.Initializer.Add(Weights("wpe", 0.25f, 16, 4));
        g.Initializer.Add(Weights("head", 0.7f, 4, LmVocabulary));
        g.Initializer.Add(Longs("unsqueeze_axes", 2));
        g.Node.Add(Node("Gather", ["wte", "input_ids"], ["tokens"]));
        g.Node.Add(Node("Gather", ["wpe", "position_ids"], ["positions"]));
        g.Node.Add(Node("Add", ["tokens", "positions"], ["embedded"]));
        g.Node.Add(Node("Cast", ["attention_mask"], ["mask_f"], Int("to", 1)));
        g.Node.Add(Node("Unsqueeze", ["mask_f", "unsqueeze_axes"], ["mask_3d"]));
        g.Node.Add(Node("Mul", ["embedded", "mask_3d"], ["hidden"]));
        g.Node.Add(Node("MatMul", ["hidden", "head"], ["logits"]));
        g.Node.Add(Node("Identity", ["past_key_values.0.key"], ["present.0.key"]));
        g.Output.Add(Value("logits", 1, "batch", "sequence", "vocabulary"));
        g.Output.Add(Value("present.0.key", 1, "batch", "2", "past_sequence", "2"));
        return Model(g);
    }

    /// <summary>
    /// A one-block GPT-2 as ONNX Runtime's transformer optimiser leaves it: com.microsoft Attention (unidirectional, raw
    /// int32 mask over past + current tokens, past in the [2, batch, heads, past, head] layout), FastGelu and
    /// SkipLayerNormalization, with every sequence dimension symbolic.
    /// </summary>
    public static ModelProto OptimizedGpt2()
    {
        var g = new GraphProto { Name = "gpt2-optimized" };
        g.Input.Add(Value("input_ids", 7, "batch_size", "seq_len"));
        g.Input.Add(Value("attention_mask", 7, "batch_size", "total_seq_len"));
        g.Input.Add(Value("past_0", 1, "2", "batch_size", "2", "past_seq_len", "2"));
        g.Initializer.Add(Weights("wte", 0.5f, LmVocabulary, 4));
        g.Initializer.Add(Weights("qkv_w", 0.4f, 4, 12));
        g.Initializer.Add(Weights("qkv_b", 0.1f, 12));
        g.Initializer.Add(Weights("fc_b", 0.2f, 4));
        g.Initializer.Add(Weights("gamma", 0.9f, 4));
        g.Initializer.Add(Weights("beta", 0.1f, 4));
        g.Initializer.Add(Weights("head", 0.7f, 4, LmVocabulary));
        g.Node.Add(Node("Gather", ["wte", "input_ids"], ["embedded"]));
        g.Node.Add(Node("Cast", ["attention_mask"], ["mask_i32"], Int("to", 6)));
        g.Node.Add(Microsoft(Node("Attention", ["embedded", "qkv_w", "qkv_b", "mask_i32", "past_0"], ["attended", "present_0"], Int("num_heads", 2), Int("unidirectional", 1))));
        g.Node.Add(Microsoft(Node("FastGelu", ["attended", "fc_b"], ["activated"])));
        g.Node.Add(Microsoft(Node("SkipLayerNormalization", ["activated", "embedded", "gamma", "beta"], ["normalized"], Float("epsilon", 1e-5f))));
        g.Node.Add(Node("MatMul", ["normalized", "head"], ["logits"]));
        g.Output.Add(Value("logits", 1, "batch_size", "seq_len", LmVocabulary.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        g.Output.Add(Value("present_0", 1, "2", "batch_size", "2", "total_seq_len", "2"));
        ModelProto model = Model(g);
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        return model;
    }

    private static NodeProto Microsoft(NodeProto node)
    {
        node.Domain = "com.microsoft";
        return node;
    }

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>last_hidden_state[b, t] = word[ids] + type[token_type_ids], masked; no logits output.</summary>
    public static ModelProto Encoder()
    {
        var g = new GraphProto { Name = "encoder" };
        g.Input.Add(Value("input_ids", 7, "batch", "sequence"));
        g.Input.Add(Value("attention_mask", 7, "batch", "sequence"));
        g.Input.Add(Value("token_type_ids", 7, "batch", "sequence"));
        g.Initializer.Add(Weights("word", 0.5f, 30, EncoderHidden));
        g.Initializer.Add(Weights("type", 0.5f, 2, EncoderHidden));
        g.Initializer.Add(Longs("unsqueeze_axes", 2));
        g.Node.Add(Node("Gather", ["word", "input_ids"], ["words"]));
        g.Node.Add(Node("Gather", ["type", "token_type_ids"], ["types"]));
        g.Node.Add(Node("Add", ["words", "types"], ["embedded"]));
        g.Node.Add(Node("Cast", ["attention_mask"], ["mask_f"], Int("to", 1)));
        g.Node.Add(Node("Unsqueeze", ["mask_f", "unsqueeze_axes"], ["mask_3d"]));
        g.Node.Add(Node("Mul", ["embedded", "mask_3d"], ["last_hidden_state"]));
        g.Output.Add(Value("last_hidden_state", 1, "batch", "sequence", "hidden"));
        return Model(g);
    }

    public static ModelProto Model(GraphProto graph, int opset = 17)
    {
        var model = new ModelProto { IrVersion = 8, Graph = graph, ProducerName = "tiny-graphs" };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    public static ValueInfoProto Value(string name, int type, params string[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (string dim in dims)
        {
            shape.Dim.Add(long.TryParse(dim, out long v) ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = dim });
        }

        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type, Shape = shape } } };
    }

    public static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    /// <summary>Deterministic weights (a fixed pattern scaled by <paramref name="scale"/>), so no seed matters.</summary>
    private static TensorProto Weights(string name, float scale, params long[] dims)
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        float[] values = [.. Enumerable.Range(0, (int)count).Select(i => scale * MathF.Sin(i * 1.7f + 0.3f))];
        var t = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(values.SelectMany(BitConverter.GetBytes).ToArray()) };
        t.Dims.AddRange(dims);
        return t;
    }

    private static TensorProto Longs(string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = 7 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        return t;
    }
}
