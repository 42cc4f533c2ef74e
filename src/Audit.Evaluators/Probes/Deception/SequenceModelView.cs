using Audit.Evaluators.Datasets;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Models;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Deception;

/// <summary>
/// A language-style model (<c>input_ids</c> int64 <c>[B, T]</c> → <c>logits</c> <c>[B, T, V]</c>) as the deception
/// probes use it: right-padded batches read at each row's last real token (valid for causal models, whose
/// earlier positions never see the padding), next-token logits, and activations captured by value name.
/// The other inputs Hugging Face exports declare are fed as the model expects them: <c>attention_mask</c> (ones,
/// zeros on padding), <c>token_type_ids</c> (zeros), <c>position_ids</c> (0..T−1) and <c>past_key_values.*</c>
/// (empty: past length 0).
/// </summary>
internal sealed class SequenceModelView
{
    /// <summary>Hard ceiling on context and vocabulary, whatever the graph declares: models are data.</summary>
    private const int MaxContext = 8192;
    private const int MaxVocabulary = 1 << 20;

    private readonly IReadOnlyList<(ValueSpec Spec, string Role)> _extraInputs;

    private SequenceModelView(
        IDifferentiableModel model, string inputName, string outputName, int? fixedLength, int maxLength, int vocabularySize, IReadOnlyList<(ValueSpec Spec, string Role)> extraInputs)
    {
        Model = model;
        InputName = inputName;
        OutputName = outputName;
        FixedLength = fixedLength;
        MaxLength = maxLength;
        VocabularySize = vocabularySize;
        _extraInputs = extraInputs;
        TorchDevice = new torch.Device(model.Device.Name);
    }

    public IDifferentiableModel Model { get; }

    public string InputName { get; }

    public string OutputName { get; }

    /// <summary>The sequence length the graph fixes, when it does; batches are padded to it.</summary>
    public int? FixedLength { get; }

    /// <summary>
    /// Longest sequence accepted: the graph's fixed length, else the <c>contextLength</c> override, else the ceiling,
    /// so that with a symbolic length the evidence's longest record decides.
    /// </summary>
    public int MaxLength { get; }

    public int VocabularySize { get; }

    public torch.Device TorchDevice { get; }

    public SequenceLimits Limits => new(VocabularySize, MaxLength);

    /// <summary>
    /// Most tokens (rows × sequence length) the probes put in one forward pass: a bound on rows alone let a
    /// 10 M-parameter model at 128 tokens run 4,096 × 128 tokens at once (tens of GB of activations and logits); at
    /// the fixtures' 11–16 tokens it is the same one or two passes as before.
    /// </summary>
    public const int TokensPerForward = 1 << 14;

    /// <summary>How many groups of <paramref name="tokensPerGroup"/> tokens (e.g. one trigger × every prompt) fit in one forward pass; at least one.</summary>
    public static int GroupsPerForward(long tokensPerGroup) => (int)Math.Max(1, TokensPerForward / Math.Max(1, tokensPerGroup));

    /// <summary>
    /// Most bytes of logits one forward pass returns (float32 <c>[tokens, V]</c>): at a GPT-2 vocabulary (50,257)
    /// <see cref="TokensPerForward"/> tokens would return 3.3 GB of logits; at the fixtures' and the 10 M-parameter
    /// benchmark's vocabularies (≤ 4,096) this bound is above <see cref="TokensPerForward"/> and changes nothing.
    /// </summary>
    public const long LogitBytesPerForward = 256L << 20;

    /// <summary>Tokens one forward pass of this model carries: <see cref="TokensPerForward"/>, fewer where the vocabulary makes the logits large.</summary>
    public int TokensPerPass => (int)Math.Clamp(LogitBytesPerForward / (sizeof(float) * (long)Math.Max(1, VocabularySize)), 1, TokensPerForward);

    /// <summary>As <see cref="GroupsPerForward"/>, for this model's <see cref="TokensPerPass"/>.</summary>
    public int GroupsPerPass(long tokensPerGroup) => (int)Math.Max(1, TokensPerPass / Math.Max(1, tokensPerGroup));

    /// <summary>Rows of <paramref name="rows"/> per forward pass: <paramref name="batchSize"/>, fewer where the rows are long (a 4,096-token context).</summary>
    public int RowsPerPass(IReadOnlyList<long[]> rows, int batchSize) =>
        Math.Min(batchSize, GroupsPerPass(Width(rows)));

    private int Width(IReadOnlyList<long[]> rows) => FixedLength ?? (rows.Count == 0 ? 1 : rows.Max(r => r.Length));

    /// <summary>
    /// Most token positions of captured values one pass keeps (values × rows × sequence length): capturing 32 values of
    /// 64 × 128 tokens at once held 268 MB of activations besides the forward's own; at the fixtures' 11–16 tokens
    /// (32 × 64 × 16) it is the same single pass as before.
    /// </summary>
    public const int CapturedTokensPerForward = 1 << 16;

    /// <summary>
    /// A pass whose logits reach this many bytes hands the native heap's free pages back
    /// (<see cref="Runtime.NativeHeap.Trim"/>): without it the 10 M-parameter benchmark's linear probe reached 3.2 GB
    /// resident (glibc keeps what a pass freed). The fixtures' passes (vocabularies of tens of tokens) never trim.
    /// </summary>
    public const long TrimAfterLogitBytes = 64L << 20;

    /// <summary>Trims the native heap after a pass of <paramref name="tokens"/> tokens when it was large (see <see cref="TrimAfterLogitBytes"/>).</summary>
    public void AfterPass(long tokens)
    {
        if (tokens * sizeof(float) * VocabularySize >= TrimAfterLogitBytes)
        {
            _ = Runtime.NativeHeap.Trim();
        }
    }

    /// <summary>
    /// Checks the model is a causal language model and learns its vocabulary and context.
    /// <paramref name="contextLength"/> (0 = none) overrides the longest sequence when the graph leaves it symbolic.
    /// </summary>
    /// <exception cref="ProbeNotApplicableException">Not a causal language model (an encoder, a classifier), or an input it cannot feed.</exception>
    public static SequenceModelView Create(IDifferentiableModel model, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Inputs.Count == 0 || model.Outputs.Count == 0)
        {
            throw new ProbeNotApplicableException("The model has no inputs or outputs.");
        }

        var roles = model.Inputs.Select(i => (Spec: i, Role: InputRoles.Of(i.Name, i.ElementType.IsFloating(), i.Shape.Count))).ToList();
        ValueSpec input = roles.FirstOrDefault(r => r.Role == InputRoles.InputIds).Spec
            ?? roles.Select(r => r.Spec).FirstOrDefault(s => s.Shape.Count == 2 && !s.ElementType.IsFloating())
            ?? model.Inputs[0];
        if (input.Shape.Count != 2 || input.ElementType is not (ScalarType.Int64 or ScalarType.Int32))
        {
            throw new ProbeNotApplicableException($"Deception probes need token ids int64 [B, T]; the model's input '{input.Name}' is {input.ElementType} of rank {input.Shape.Count}.");
        }

        var extra = new List<(ValueSpec Spec, string Role)>();
        foreach ((ValueSpec spec, string role) in roles.Where(r => r.Spec.Name != input.Name))
        {
            switch (role)
            {
                case InputRoles.AttentionMask or InputRoles.TokenTypeIds or InputRoles.PositionIds:
                    extra.Add((spec, role));
                    break;
                case InputRoles.PastKeyValues when spec.Shape.Skip(1).Any(d => d < 0):
                    // Fed empty: the symbolic past length is 0, so the model runs as on a fresh prompt.
                    extra.Add((spec, role));
                    break;
                case InputRoles.PastKeyValues:
                    throw new ProbeNotApplicableException($"The model's past input '{spec.Name}' has a fixed shape [{string.Join(", ", spec.Shape)}], so it cannot be fed empty; export it without past key/values (or with a symbolic past length).");
                default:
                    throw new ProbeNotApplicableException($"The model has an input '{spec.Name}' ({role}) besides token ids that the deception probes cannot feed.");
            }
        }

        ValueSpec output = Logits(model);
        int? fixedLength = input.Shape[1] > 0 ? (int)Math.Min(input.Shape[1], MaxContext) : null;
        int maxLength = Math.Min(fixedLength ?? (contextLength > 0 ? contextLength : MaxContext), MaxContext);
        long vocabulary = output.Shape.Count == 3 ? output.Shape[2] : -1;
        var view = new SequenceModelView(model, input.Name, output.Name, fixedLength, maxLength, 0, extra);
        if (vocabulary <= 0)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            Tensor logits = view.Logits(torch.zeros(1, fixedLength ?? 1, dtype: ScalarType.Int64, device: view.TorchDevice), null);
            if (logits.dim() != 3)
            {
                throw new ProbeNotApplicableException($"Deception probes need logits [B, T, V]; the model returned rank {logits.dim()}.");
            }

            vocabulary = logits.shape[2];
        }

        if (vocabulary < 2 || vocabulary > MaxVocabulary)
        {
            throw new ProbeNotApplicableException($"Vocabulary of {vocabulary} tokens is outside [2, {MaxVocabulary}].");
        }

        return new SequenceModelView(model, input.Name, output.Name, fixedLength, maxLength, (int)vocabulary, extra);
    }

    /// <summary>
    /// The next-token logits: the output named <c>logits</c>, else the first float output of rank 3. An encoder (hidden
    /// states, no logits) predicts no next token, so the probes do not apply; its hidden width is never a vocabulary.
    /// </summary>
    private static ValueSpec Logits(IDifferentiableModel model)
    {
        ValueSpec? named = model.Outputs.FirstOrDefault(o => o.Name.Contains("logits", StringComparison.OrdinalIgnoreCase));
        if (named is not null)
        {
            return named.Shape.Count is 2
                ? throw new ProbeNotApplicableException($"The model's logits '{named.Name}' are [B, C]: a sequence classifier, not a language model; deception probes read next-token predictions [B, T, V].")
                : named;
        }

        ValueSpec? hidden = model.Outputs.FirstOrDefault(o => o.Name.Contains("hidden_state", StringComparison.OrdinalIgnoreCase)
            || o.Name.Contains("embedding", StringComparison.OrdinalIgnoreCase) || o.Name.Contains("pooler", StringComparison.OrdinalIgnoreCase));
        if (hidden is not null)
        {
            throw new ProbeNotApplicableException($"The model is an encoder (output '{hidden.Name}', no logits): it predicts no next token, so the deception probes, which read next-token predictions, do not apply.");
        }

        return model.Outputs.FirstOrDefault(o => o.Shape.Count == 3 && o.ElementType.IsFloating()) ?? model.Outputs[0];
    }

    /// <summary>
    /// The graph's inputs for token ids <c>[B, T]</c>: the ids and every other declared input. <paramref name="last"/>
    /// (each row's last real token) zeroes the attention mask on the right padding; without it every token is attended.
    /// </summary>
    public Dictionary<string, Tensor> Inputs(Tensor ids, Tensor? last = null)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [InputName] = ids };
        long batch = ids.shape[0], length = ids.shape[1];
        foreach ((ValueSpec spec, string role) in _extraInputs)
        {
            feeds[spec.Name] = role switch
            {
                InputRoles.AttentionMask => (last is null
                    ? torch.ones(batch, length, dtype: ScalarType.Int64, device: ids.device)
                    : HeldScalars.Arange(length, ScalarType.Int64, ids.device).unsqueeze(0).le(last.view(-1, 1)).to_type(ScalarType.Int64))
                    .to_type(spec.ElementType),
                InputRoles.TokenTypeIds => torch.zeros(batch, length, dtype: spec.ElementType, device: ids.device),
                InputRoles.PositionIds => HeldScalars.Arange(length, ScalarType.Int64, ids.device).unsqueeze(0).expand(batch, length).to_type(spec.ElementType),
                _ => torch.zeros(EmptyPastShape(spec, batch), dtype: spec.ElementType, device: ids.device),
            };
        }

        return feeds;
    }

    /// <summary>
    /// An empty past: fixed dimensions as declared, the batch where the dimension is named as the ids' batch (or is the
    /// first and symbolic), 0 for the symbolic past length. ONNX Runtime's GPT-2 past is [2, batch, heads, past, head].
    /// </summary>
    private long[] EmptyPastShape(ValueSpec spec, long batch)
    {
        IReadOnlyList<string?> idsDims = Model.Inputs.First(i => i.Name == InputName).DimensionNames;
        string? batchName = idsDims.Count > 0 ? idsDims[0] : null;
        bool named = batchName is not null && spec.DimensionNames.Contains(batchName);
        return [.. spec.Shape.Select((d, k) => d >= 0 ? d
            : (named ? spec.DimensionNames[k] == batchName : k == 0) ? batch
            : 0)];
    }

    /// <summary>Right-pads rows (token 0) to the fixed length or the longest row; returns ids <c>[B, T]</c> and last indices <c>[B]</c>.</summary>
    public (Tensor Ids, Tensor Last) Pack(IReadOnlyList<long[]> rows)
    {
        int width = FixedLength ?? rows.Max(r => r.Length);
        var ids = new long[rows.Count * width];
        var last = new long[rows.Count];
        for (int i = 0; i < rows.Count; i++)
        {
            Array.Copy(rows[i], 0, ids, i * width, rows[i].Length);
            last[i] = rows[i].Length - 1;
        }

        return (torch.tensor(ids, [rows.Count, width], device: TorchDevice), torch.tensor(last, device: TorchDevice));
    }

    /// <summary>Full logits <c>[B, T, V]</c>, optionally with values replaced (activation patching).</summary>
    public Tensor Logits(Tensor ids, IReadOnlyDictionary<string, Tensor>? replace, Tensor? last = null) =>
        Model.Run(Inputs(ids, last), null, replace)[OutputName];

    /// <summary>Next-token logits at each row's last real token: <c>[B, V]</c>.</summary>
    public Tensor LastLogits(Tensor ids, Tensor last, IReadOnlyDictionary<string, Tensor>? replace = null) =>
        AtLast(Logits(ids, replace, last), last);

    /// <summary>Selects position <c>last[b]</c> of each row of a <c>[B, T, D]</c> tensor.</summary>
    public static Tensor AtLast(Tensor values, Tensor last) =>
        values.gather(1, last.view(-1, 1, 1).expand(-1, 1, values.shape[2])).squeeze(1);

    /// <summary>Next-token log-probabilities at the last token for many rows, batched, detached: <c>[N, V]</c>.</summary>
    public Tensor LastLogProbabilities(IReadOnlyList<long[]> rows, int batchSize, CancellationToken cancellationToken)
    {
        using var noGrad = torch.no_grad();
        var parts = new List<Tensor>();
        batchSize = RowsPerPass(rows, batchSize);
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (var scope = torch.NewDisposeScope())
            {
                (Tensor ids, Tensor last) = Pack(rows.Skip(start).Take(batchSize).ToList());
                parts.Add(LastLogits(ids, last).log_softmax(-1).MoveToOuterDisposeScope());
            }

            AfterPass((long)Math.Min(batchSize, rows.Count - start) * Width(rows));
        }

        return torch.cat(parts, 0);
    }

    /// <summary>
    /// Activations at the last real token for each named value: <c>[N, D]</c> per value, batched and detached.
    /// Values of rank above 3 are flattened over their trailing dimensions.
    /// </summary>
    public Dictionary<string, Tensor> LastActivations(IReadOnlyList<long[]> rows, IReadOnlyList<string> names, int batchSize, CancellationToken cancellationToken)
    {
        using var noGrad = torch.no_grad();
        var parts = names.ToDictionary(n => n, _ => new List<Tensor>(), StringComparer.Ordinal);
        batchSize = Math.Min(RowsPerPass(rows, batchSize), (int)Math.Max(1, CapturedTokensPerForward / ((long)Math.Max(1, names.Count) * Width(rows))));
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using (var scope = torch.NewDisposeScope())
            {
                (Tensor ids, Tensor last) = Pack(rows.Skip(start).Take(batchSize).ToList());
                IReadOnlyDictionary<string, Tensor> captured = Model.Run(Inputs(ids, last), names);
                foreach (string name in names)
                {
                    Tensor value = captured[name];
                    parts[name].Add(AtLast(value.to_type(ScalarType.Float32), last).MoveToOuterDisposeScope());
                }
            }

            AfterPass((long)Math.Min(batchSize, rows.Count - start) * Width(rows) * Math.Max(1, names.Count));
        }

        return parts.ToDictionary(p => p.Key, p => torch.cat(p.Value, 0), StringComparer.Ordinal);
    }

    /// <summary>
    /// Values that look like per-token hidden states: float, shape <c>[B, T, D]</c> for a probe batch.
    /// <paramref name="requested"/> (comma-separated names) overrides the discovery; unknown names are rejected.
    /// </summary>
    public IReadOnlyList<string> HiddenStateValues(string requested, int maxValues, IReadOnlyList<long[]> sample)
    {
        string[] asked = requested.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (asked.Length > 0)
        {
            string[] unknown = asked.Where(a => !Model.ValueNames.Contains(a)).ToArray();
            if (unknown.Length > 0)
            {
                throw new ProbeNotApplicableException($"The model has no value named {string.Join(", ", unknown.Select(u => $"'{u}'"))}.");
            }

            return asked;
        }

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        (Tensor ids, Tensor last) = Pack(sample.Take(2).ToList());
        IReadOnlyDictionary<string, Tensor> captured = Model.Run(Inputs(ids, last), Model.ValueNames);
        var found = new List<string>();

        // Graph outputs are left out: a probe on the logits would read the stated answer, not a hidden state.
        var outputs = Model.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (string name in Model.ValueNames.Where(n => !outputs.Contains(n)))
        {
            if (captured.TryGetValue(name, out Tensor? value) && value.is_floating_point() && value.dim() == 3
                && value.shape[0] == ids.shape[0] && value.shape[1] == ids.shape[1] && value.shape[2] >= 2)
            {
                found.Add(name);
            }
        }

        // Keep an even spread through the network when there are more candidates than the budget.
        if (found.Count > maxValues)
        {
            found = Enumerable.Range(0, maxValues).Select(i => found[(int)((long)i * (found.Count - 1) / Math.Max(1, maxValues - 1))]).Distinct().ToList();
        }

        return found;
    }
}

internal static class ScalarTypes
{
    public static bool IsFloating(this ScalarType type) => Audit.Evaluators.Onnx.Operators.Kernels.IsFloating(type);
}

/// <summary>The probe cannot run on this model (wrong kind, unknown shape); reported as an inconclusive finding.</summary>
public sealed class ProbeNotApplicableException : Exception
{
    public ProbeNotApplicableException()
    {
    }

    public ProbeNotApplicableException(string message)
        : base(message)
    {
    }

    public ProbeNotApplicableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
