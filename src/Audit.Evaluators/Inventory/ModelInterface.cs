using System.Globalization;
using Audit.Evaluators.Onnx;

namespace Audit.Evaluators.Inventory;

/// <summary>
/// What kind of model the graph's interface says it is, so an auditor (and the probes) know how to feed it.
/// Fields that do not apply to a kind are null.
/// </summary>
/// <param name="Kind">One of <see cref="ModelKindNames"/>: image-classifier, vector-classifier, causal-lm, encoder, sequence-classifier, unknown.</param>
/// <param name="Inputs">Every graph input with its role (see <see cref="InputRoles"/>).</param>
/// <param name="Layout">Image layout, <c>NCHW</c> or <c>NHWC</c>.</param>
/// <param name="Channels">Image channels.</param>
/// <param name="Height">Image height.</param>
/// <param name="Width">Image width.</param>
/// <param name="Features">Feature count of a vector classifier.</param>
/// <param name="Classes">Classes of a classifier (last dimension of its output).</param>
/// <param name="Vocabulary">Vocabulary of a causal language model (last dimension of its logits).</param>
/// <param name="HiddenSize">Hidden width of an encoder (last dimension of its hidden states).</param>
/// <param name="Output">The output the kind was read from (logits, last_hidden_state...).</param>
/// <param name="ScoresNormalisedBy">
/// A classifier whose first output is a <c>Softmax</c> or <c>LogSoftmax</c> of its class scores: that operator (see
/// <see cref="FinalNormalisation"/>). The probes read <paramref name="Logits"/> instead.
/// </param>
/// <param name="Logits">The value the final normaliser reads: the class scores the probes read.</param>
public sealed record ModelInterface(
    string Kind,
    IReadOnlyList<InputRole> Inputs,
    string? Layout = null,
    long? Channels = null,
    long? Height = null,
    long? Width = null,
    long? Features = null,
    long? Classes = null,
    long? Vocabulary = null,
    long? HiddenSize = null,
    string? Output = null,
    string? ScoresNormalisedBy = null,
    string? Logits = null);

/// <summary>A graph input and what it carries.</summary>
/// <param name="Name">Input name.</param>
/// <param name="Role">One of <see cref="InputRoles"/>' constants.</param>
public sealed record InputRole(string Name, string Role);

/// <summary>Names of the model kinds <see cref="ModelInterface.Kind"/> takes.</summary>
public static class ModelKindNames
{
    public const string ImageClassifier = "image-classifier";
    public const string VectorClassifier = "vector-classifier";
    public const string CausalLm = "causal-lm";
    public const string Encoder = "encoder";
    public const string SequenceClassifier = "sequence-classifier";
    public const string Unknown = "unknown";
}

/// <summary>
/// Input roles, read from the names Hugging Face exporters (transformers.onnx, optimum) and tf2onnx write, and
/// otherwise from element type and rank.
/// </summary>
public static class InputRoles
{
    public const string InputIds = "input_ids";
    public const string AttentionMask = "attention_mask";
    public const string TokenTypeIds = "token_type_ids";
    public const string PositionIds = "position_ids";
    public const string PastKeyValues = "past_key_values";
    public const string Image = "image";
    public const string Features = "features";
    public const string Other = "other";

    /// <summary>The role of an input from its name, whether it holds floats, and its rank.</summary>
    public static string Of(string name, bool floating, int rank)
    {
        ArgumentNullException.ThrowIfNull(name);
        string n = name.ToLowerInvariant();
        if (n.StartsWith("past", StringComparison.Ordinal) || n.Contains("past_key", StringComparison.Ordinal) || n.Contains("cache", StringComparison.Ordinal))
        {
            return PastKeyValues;
        }

        if (n.Contains("attention_mask", StringComparison.Ordinal) || n is "mask" or "input_mask")
        {
            return AttentionMask;
        }

        if (n.Contains("token_type", StringComparison.Ordinal) || n.Contains("segment_ids", StringComparison.Ordinal))
        {
            return TokenTypeIds;
        }

        if (n.Contains("position_ids", StringComparison.Ordinal))
        {
            return PositionIds;
        }

        if (n.Contains("input_ids", StringComparison.Ordinal) || (!floating && rank == 2 && n is "ids" or "tokens" or "input"))
        {
            return InputIds;
        }

        if (floating && (n.Contains("pixel", StringComparison.Ordinal) || rank == 4))
        {
            return Image;
        }

        return floating ? Features : Other;
    }
}

/// <summary>Reads a <see cref="ModelInterface"/> from declared inputs and outputs, and output shapes of a real run.</summary>
internal static class InterfaceDetector
{
    private static readonly string[] HiddenStateNames = ["last_hidden_state", "token_embeddings", "hidden_states", "encoder_hidden_states", "sentence_embedding", "pooler_output"];

    /// <param name="inputs">Declared inputs (not initializers).</param>
    /// <param name="outputs">Declared outputs.</param>
    /// <param name="runShapes">Output shapes from one run on a synthetic input, when it ran: they resolve symbolic dimensions.</param>
    /// <param name="transposedToNchw">Inputs a leading Transpose with perm [0, 3, 1, 2] reads (tf2onnx's channels-last images).</param>
    public static ModelInterface Detect(
        IReadOnlyList<TensorDescription> inputs,
        IReadOnlyList<TensorDescription> outputs,
        IReadOnlyDictionary<string, long[]>? runShapes,
        IReadOnlySet<string> transposedToNchw)
    {
        InputRole[] roles = [.. inputs.Select(i => new InputRole(i.Name, InputRoles.Of(i.Name, IsFloating(i.ElementType), i.Shape.Count)))];

        // An unnamed integer [N, T] first input is token ids, as the deception probes have always read it.
        if (roles.Length > 0 && roles.All(r => r.Role != InputRoles.InputIds) && !IsFloating(inputs[0].ElementType) && inputs[0].Shape.Count == 2
            && roles[0].Role == InputRoles.Other)
        {
            roles[0] = roles[0] with { Role = InputRoles.InputIds };
        }

        long[] Shape(TensorDescription d) =>
            runShapes is not null && runShapes.TryGetValue(d.Name, out long[]? s) ? s : [.. d.Shape.Select(Dim)];

        if (roles.Any(r => r.Role == InputRoles.InputIds))
        {
            TensorDescription? logits = outputs.FirstOrDefault(o => o.Name.Contains("logits", StringComparison.OrdinalIgnoreCase));
            TensorDescription? hidden = outputs.FirstOrDefault(o => HiddenStateNames.Any(h => o.Name.Contains(h, StringComparison.OrdinalIgnoreCase)));
            if (logits is not null && Shape(logits) is { Length: 2 } classes)
            {
                return new ModelInterface(ModelKindNames.SequenceClassifier, roles, Classes: Known(classes[1]), Output: logits.Name);
            }

            // An encoder's hidden states have the LM's logits shape [N, T, H]: without a logits output, a hidden-state
            // name decides, never the shape alone.
            if (logits is null && hidden is not null)
            {
                return new ModelInterface(ModelKindNames.Encoder, roles, HiddenSize: Known(Shape(hidden).LastOrDefault(-1)), Output: hidden.Name);
            }

            TensorDescription? lm = logits ?? outputs.FirstOrDefault(o => o.Shape.Count == 3 && IsFloating(o.ElementType));
            if (lm is not null && Shape(lm) is { Length: 3 } shape)
            {
                return new ModelInterface(ModelKindNames.CausalLm, roles, Vocabulary: Known(shape[2]), Output: lm.Name);
            }

            return new ModelInterface(ModelKindNames.Unknown, roles);
        }

        TensorDescription? first = outputs.Count > 0 ? outputs[0] : null;
        long? OutputClasses() => first is not null && Shape(first) is { Length: 2 } s ? Known(s[1]) : null;
        TensorDescription? image = inputs.FirstOrDefault(i => IsFloating(i.ElementType) && i.Shape.Count == 4);
        if (image is not null)
        {
            long[] s = [.. image.Shape.Select(Dim)];
            bool channelsLast = ImageLayouts.IsChannelsLast(image.Name, s, transposedToNchw);
            return channelsLast
                ? new ModelInterface(ModelKindNames.ImageClassifier, roles, "NHWC", Known(s[3]), Known(s[1]), Known(s[2]), Classes: OutputClasses())
                : new ModelInterface(ModelKindNames.ImageClassifier, roles, "NCHW", Known(s[1]), Known(s[2]), Known(s[3]), Classes: OutputClasses());
        }

        TensorDescription? vector = inputs.FirstOrDefault(i => IsFloating(i.ElementType) && i.Shape.Count == 2);
        if (vector is not null && inputs.Count == 1)
        {
            return new ModelInterface(ModelKindNames.VectorClassifier, roles, Features: Known(Dim(vector.Shape[1])), Classes: OutputClasses());
        }

        return new ModelInterface(ModelKindNames.Unknown, roles);
    }

    private static long? Known(long d) => d >= 0 ? d : null;

    private static long Dim(string d) => long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : -1;

    private static bool IsFloating(string elementType) => elementType is "float" or "double" or "float16" or "bfloat16";
}
