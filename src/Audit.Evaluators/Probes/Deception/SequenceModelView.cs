using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Deception;

/// <summary>
/// A language-style model (<c>input_ids</c> int64 <c>[B, T]</c> → <c>logits</c> <c>[B, T, V]</c>) as the deception
/// probes use it: right-padded batches read at each row's last real token (valid for causal models, whose
/// earlier positions never see the padding), next-token logits, and activations captured by value name.
/// </summary>
internal sealed class SequenceModelView
{
    /// <summary>Hard ceiling on context and vocabulary, whatever the graph declares: models are data.</summary>
    private const int MaxContext = 8192;
    private const int MaxVocabulary = 1 << 20;

    private SequenceModelView(IDifferentiableModel model, string inputName, string outputName, int? fixedLength, int maxLength, int vocabularySize)
    {
        Model = model;
        InputName = inputName;
        OutputName = outputName;
        FixedLength = fixedLength;
        MaxLength = maxLength;
        VocabularySize = vocabularySize;
        TorchDevice = new torch.Device(model.Device.Name);
    }

    public IDifferentiableModel Model { get; }

    public string InputName { get; }

    public string OutputName { get; }

    /// <summary>The sequence length the graph fixes, when it does; batches are padded to it.</summary>
    public int? FixedLength { get; }

    public int MaxLength { get; }

    public int VocabularySize { get; }

    public torch.Device TorchDevice { get; }

    public SequenceLimits Limits => new(VocabularySize, MaxLength);

    /// <summary>
    /// Checks the model is sequence-shaped and learns its vocabulary and context.
    /// <paramref name="contextLength"/> (0 = from the model) is needed when the graph leaves the length symbolic.
    /// </summary>
    /// <exception cref="ProbeNotApplicableException">The model is not a sequence model or its context is unknown.</exception>
    public static SequenceModelView Create(IDifferentiableModel model, int contextLength)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Inputs.Count == 0 || model.Outputs.Count == 0)
        {
            throw new ProbeNotApplicableException("The model has no inputs or outputs.");
        }

        ValueSpec input = model.Inputs[0];
        ValueSpec output = model.Outputs[0];
        if (input.Shape.Count != 2 || input.ElementType is not (ScalarType.Int64 or ScalarType.Int32))
        {
            throw new ProbeNotApplicableException($"Deception probes need token ids int64 [B, T]; the model's input '{input.Name}' is {input.ElementType} of rank {input.Shape.Count}.");
        }

        int? fixedLength = input.Shape[1] > 0 ? (int)Math.Min(input.Shape[1], MaxContext) : null;
        int maxLength = fixedLength ?? contextLength;
        if (maxLength <= 0)
        {
            throw new ProbeNotApplicableException("The model leaves its sequence length symbolic; set the contextLength parameter to the longest sequence it accepts.");
        }

        maxLength = Math.Min(maxLength, MaxContext);
        long vocabulary = output.Shape.Count == 3 ? output.Shape[2] : -1;
        var view = new SequenceModelView(model, input.Name, output.Name, fixedLength, maxLength, 0);
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

        return new SequenceModelView(model, input.Name, output.Name, fixedLength, maxLength, (int)vocabulary);
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
    public Tensor Logits(Tensor ids, IReadOnlyDictionary<string, Tensor>? replace) =>
        Model.Run(new Dictionary<string, Tensor> { [InputName] = ids }, null, replace)[OutputName];

    /// <summary>Next-token logits at each row's last real token: <c>[B, V]</c>.</summary>
    public Tensor LastLogits(Tensor ids, Tensor last, IReadOnlyDictionary<string, Tensor>? replace = null) =>
        AtLast(Logits(ids, replace), last);

    /// <summary>Selects position <c>last[b]</c> of each row of a <c>[B, T, D]</c> tensor.</summary>
    public static Tensor AtLast(Tensor values, Tensor last) =>
        values.gather(1, last.view(-1, 1, 1).expand(-1, 1, values.shape[2])).squeeze(1);

    /// <summary>Next-token log-probabilities at the last token for many rows, batched, detached: <c>[N, V]</c>.</summary>
    public Tensor LastLogProbabilities(IReadOnlyList<long[]> rows, int batchSize, CancellationToken cancellationToken)
    {
        using var noGrad = torch.no_grad();
        var parts = new List<Tensor>();
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            (Tensor ids, Tensor last) = Pack(rows.Skip(start).Take(batchSize).ToList());
            parts.Add(LastLogits(ids, last).log_softmax(-1).MoveToOuterDisposeScope());
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
        for (int start = 0; start < rows.Count; start += batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            (Tensor ids, Tensor last) = Pack(rows.Skip(start).Take(batchSize).ToList());
            IReadOnlyDictionary<string, Tensor> captured = Model.Run(new Dictionary<string, Tensor> { [InputName] = ids }, names);
            foreach (string name in names)
            {
                Tensor value = captured[name];
                parts[name].Add(AtLast(value.to_type(ScalarType.Float32), last).MoveToOuterDisposeScope());
            }
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
        (Tensor ids, _) = Pack(sample.Take(2).ToList());
        IReadOnlyDictionary<string, Tensor> captured = Model.Run(new Dictionary<string, Tensor> { [InputName] = ids }, Model.ValueNames);
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
