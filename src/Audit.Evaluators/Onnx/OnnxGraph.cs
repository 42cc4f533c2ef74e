using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx.Operators;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// An imported ONNX graph: nodes compiled to TorchSharp kernels, run in topological order. Every value
/// between nodes is an ordinary libtorch tensor, so autograd flows from outputs back to inputs (and to any
/// replaced intermediate), and any named value can be captured or replaced.
/// </summary>
public sealed class OnnxGraph : IDifferentiableModel
{
    private readonly CompiledNode[] _nodes;
    private readonly Dictionary<string, Tensor> _initializers;
    private readonly List<Tensor> _owned;
    private readonly HashSet<string> _valueNames;

    // Values live in numbered slots (resolved once at import) so a run allocates one array, not a dictionary.
    private readonly Dictionary<string, int> _slots = new(StringComparer.Ordinal);
    private readonly Plan _plain;
    private readonly Plan? _rewritten;
    private readonly HashSet<string> _hiddenByRewrite;
    private readonly (int Slot, Tensor Value)[] _initializerSlots;
    private readonly int[] _inputSlots;

    // Initializers a copy made by WithInitializers shares with its original, which disposes them.
    private readonly IReadOnlySet<string> _borrowedInitializers;
    private bool _disposed;

    internal OnnxGraph(
        ComputeDevice device,
        IReadOnlyList<ValueSpec> inputs,
        IReadOnlyList<ValueSpec> outputs,
        CompiledNode[] nodes,
        Dictionary<string, Tensor> initializers,
        List<Tensor> owned,
        long opset,
        bool fixedBatchOfOne,
        RewrittenNodes? rewritten = null,
        IReadOnlySet<string>? borrowedInitializers = null)
    {
        _borrowedInitializers = borrowedInitializers ?? new HashSet<string>(StringComparer.Ordinal);
        Device = device;
        Inputs = inputs;
        Outputs = outputs;
        _nodes = nodes;
        _initializers = initializers;
        _owned = owned;
        Opset = opset;
        ExportedWithFixedBatchOfOne = fixedBatchOfOne;
        List<string> names = [.. inputs.Select(i => i.Name)];
        names.AddRange(nodes.SelectMany(n => n.Outputs).Where(o => o.Length > 0));
        ValueNames = names;
        _valueNames = new HashSet<string>(names, StringComparer.Ordinal);
        _initializerSlots = [.. initializers.Select(i => (Slot(i.Key), i.Value))];
        _inputSlots = [.. inputs.Select(i => Slot(i.Name))];
        _plain = new Plan(nodes, Slot);
        _rewritten = rewritten is null ? null : new Plan(rewritten.Nodes, Slot);
        _hiddenByRewrite = rewritten is null ? [] : new HashSet<string>(rewritten.Hidden, StringComparer.Ordinal);
        foreach (ValueSpec output in outputs)
        {
            Slot(output.Name);
        }
    }

    private int Slot(string name)
    {
        if (!_slots.TryGetValue(name, out int slot))
        {
            slot = _slots.Count;
            _slots[name] = slot;
        }

        return slot;
    }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Inputs { get; }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Outputs { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> ValueNames { get; }

    /// <inheritdoc />
    public ComputeDevice Device { get; }

    /// <summary>The default-domain opset the model was exported at.</summary>
    public long Opset { get; }

    /// <summary>
    /// True when every batched input was declared with a fixed leading dimension of 1; baked-in leading 1s in
    /// Reshape targets are then widened to the actual batch (see <see cref="BatchDimensionAnalysis"/>).
    /// </summary>
    public bool ExportedWithFixedBatchOfOne { get; }

    /// <summary>
    /// True when the first input is a channels-last image <c>[N, H, W, C]</c> (see <see cref="ImageLayouts"/>); the
    /// probes then see the model through a <see cref="ChannelsFirstView"/>.
    /// </summary>
    public bool ChannelsLastImageInput { get; internal init; }

    /// <summary>
    /// The Softmax or LogSoftmax that produces the first output, when there is one (see <see cref="Onnx.FinalNormalisation"/>);
    /// the probes then see the model through a <see cref="ClassLogitsView"/>.
    /// </summary>
    public FinalNormalisation? FinalNormalisation { get; internal init; }

    /// <summary>Weights and other initializers by name (owned by the graph; do not dispose).</summary>
    public IReadOnlyDictionary<string, Tensor> Initializers => _initializers;

    /// <summary>The compiled nodes in execution order (before import-time rewrites).</summary>
    internal IReadOnlyList<CompiledNode> Nodes => _nodes;

    /// <summary>
    /// The same graph with some initializers replaced (for example a shadow model's re-initialised weights): the nodes
    /// are shared, the import-time rewrites are not (they baked the original weights in), and gradients flow to the
    /// replacements. The copy owns the replacements only; the original must outlive it.
    /// </summary>
    /// <exception cref="ArgumentException">A replacement names no initializer of this graph.</exception>
    internal OnnxGraph WithInitializers(IReadOnlyDictionary<string, Tensor> replacements)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        string[] unknown = [.. replacements.Keys.Where(k => !_initializers.ContainsKey(k))];
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"Not initializers of the graph: {string.Join(", ", unknown)}.", nameof(replacements));
        }

        var merged = new Dictionary<string, Tensor>(_initializers, StringComparer.Ordinal);
        foreach ((string name, Tensor value) in replacements)
        {
            merged[name] = value;
        }

        var borrowed = _initializers.Keys.Where(k => !replacements.ContainsKey(k)).ToHashSet(StringComparer.Ordinal);
        return new OnnxGraph(Device, Inputs, Outputs, _nodes, merged, [], Opset, ExportedWithFixedBatchOfOne, rewritten: null, borrowed)
        {
            ChannelsLastImageInput = ChannelsLastImageInput,
            FinalNormalisation = FinalNormalisation,
        };
    }

    /// <summary>Number of nodes.</summary>
    public int NodeCount => _nodes.Length;

    /// <summary>Nodes a run executes when it captures and replaces nothing the import-time rewrites removed.</summary>
    internal int PlannedNodeCount => (_rewritten ?? _plain).Nodes.Length;

    /// <inheritdoc />
    public Tensor Forward(Tensor input)
    {
        IReadOnlyDictionary<string, Tensor> result = Run(new Dictionary<string, Tensor> { [Inputs[0].Name] = input });
        return result[Outputs[0].Name];
    }

    /// <inheritdoc />
    /// <exception cref="ArgumentException">A required input is missing, or a capture or replacement name is unknown.</exception>
    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null) =>
        Run(inputs, capture, replace, long.MaxValue, CancellationToken.None);

    /// <summary>
    /// A run for untrusted models (the upload's executability check): cancelled between nodes, and stopped with
    /// <see cref="ModelRejectedException"/> (<see cref="ModelRejectionReason.LimitExceeded"/>) as soon as one node
    /// produces a value larger than <paramref name="maxValueBytes"/>.
    /// </summary>
    internal IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture,
        IReadOnlyDictionary<string, Tensor>? replace,
        long maxValueBytes,
        CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckNames(capture, "capture");
        CheckNames(replace?.Keys, "replace");

        // The rewritten plan computes the same outputs but never materialises some intermediate values; a run
        // that captures or replaces one of those takes the plain plan.
        Plan plan = _rewritten is not null && !Touches(capture) && !Touches(replace?.Keys) ? _rewritten : _plain;
        using DisposeScope scope = torch.NewDisposeScope();
        Tensor?[] values = new Tensor?[_slots.Count];
        var lifetimes = new ValueLifetimes(_slots.Count);
        foreach ((int slot, Tensor value) in _initializerSlots)
        {
            values[slot] = value;
            lifetimes.Protect(value);
        }

        foreach (string name in Outputs.Select(o => o.Name).Concat(capture ?? []))
        {
            lifetimes.Keep(_slots[name]);
        }

        foreach (Tensor replacement in replace?.Values ?? [])
        {
            lifetimes.Protect(replacement);
        }

        for (int k = 0; k < Inputs.Count; k++)
        {
            string name = Inputs[k].Name;
            if (replace is not null && replace.TryGetValue(name, out Tensor? replacement))
            {
                values[_inputSlots[k]] = lifetimes.Protect(OnDevice(replacement));
            }
            else if (inputs.TryGetValue(name, out Tensor? given))
            {
                CheckInput(Inputs[k], given);
                values[_inputSlots[k]] = lifetimes.Protect(OnDevice(given));
            }
            else
            {
                throw new ArgumentException($"Input '{name}' was not given.", nameof(inputs));
            }
        }

        for (int n = 0; n < plan.Nodes.Length; n++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            CompiledNode node = plan.Nodes[n];
            int[] inputSlots = plan.InputSlots[n];
            Tensor?[] arguments = new Tensor?[inputSlots.Length];
            for (int k = 0; k < arguments.Length; k++)
            {
                arguments[k] = inputSlots[k] < 0 ? null : values[inputSlots[k]];
            }

            // A node's own temporaries die with its scope; its results move out to the run's scope.
            Tensor[] results;
            using (DisposeScope nodeScope = torch.NewDisposeScope())
            {
                try
                {
                    results = node.Kernel(arguments);
                }
                catch (Exception e) when (e is not UnsupportedOperatorException and not ModelRejectedException)
                {
                    throw new InvalidOperationException($"{node.Describe} failed: {e.Message}", e);
                }

                // Moves only what this scope holds: a result that is an argument itself stays where it was.
                nodeScope.MoveToOuter(results);
            }

            if (maxValueBytes < long.MaxValue && results.FirstOrDefault(r => r.numel() * r.ElementSize > maxValueBytes) is { } huge)
            {
                throw new ModelRejectedException(
                    ModelRejectionReason.LimitExceeded,
                    $"{node.Describe} produced a value of shape [{string.Join(", ", huge.shape)}], more than {maxValueBytes} bytes.");
            }

            int[] outputSlots = plan.OutputSlots[n];
            for (int k = 0; k < outputSlots.Length && k < results.Length; k++)
            {
                if (outputSlots[k] >= 0)
                {
                    values[outputSlots[k]] = lifetimes.Hold(replace is not null && replace.TryGetValue(node.Outputs[k], out Tensor? replacement) ? lifetimes.Protect(OnDevice(replacement)) : results[k]);
                }
            }

            // Results no slot holds (unnamed outputs, values replaced by the caller) and values no later node reads are
            // released now rather than when the run ends: a transformer's activations would otherwise all live at once
            // (a 10 M-parameter model at 2,048 × 128 tokens reached 22 GB and was killed).
            foreach (Tensor result in results)
            {
                lifetimes.ReleaseIfUnheld(result);
            }

            foreach (int slot in plan.LastReadBy[n])
            {
                lifetimes.Release(values, slot);
            }
        }

        // Results are aliases moved out of the scope; everything else made here is released with it. Some kernels
        // leave values channels-last (same shape and values, other strides); what leaves the graph is made
        // contiguous, so callers may view() it as before.
        Dictionary<string, Tensor> output = new(StringComparer.Ordinal);
        foreach (string name in Outputs.Select(o => o.Name).Concat(capture ?? []))
        {
            if (!output.ContainsKey(name))
            {
                output[name] = values[_slots[name]]!.contiguous().MoveToOuterDisposeScope();
            }
        }

        return output;
    }

    /// <summary>
    /// Element type and rank must match the declaration, and so must every fixed dimension after the first
    /// (the first is the batch, which may differ from an exported fixed size).
    /// </summary>
    private static void CheckInput(ValueSpec spec, Tensor given)
    {
        if (given.dtype != spec.ElementType)
        {
            throw new ArgumentException($"Input '{spec.Name}' must be {spec.ElementType}, not {given.dtype}.", nameof(given));
        }

        if (spec.Shape.Count == 0 && spec.DimensionNames.Count == 0)
        {
            return; // no shape declared
        }

        long[] shape = given.shape;
        bool fits = shape.Length == spec.Shape.Count;
        for (int d = 1; fits && d < shape.Length; d++)
        {
            fits = spec.Shape[d] < 0 || spec.Shape[d] == shape[d];
        }

        if (!fits)
        {
            throw new ArgumentException(
                $"Input '{spec.Name}' has shape [{string.Join(", ", shape)}] but the model declares [{string.Join(", ", spec.Shape.Select((s, d) => s >= 0 ? s.ToString(System.Globalization.CultureInfo.InvariantCulture) : spec.DimensionNames[d] ?? "?"))}].",
                nameof(given));
        }
    }

    private bool Touches(IEnumerable<string>? names) => names is not null && names.Any(_hiddenByRewrite.Contains);

    private Tensor OnDevice(Tensor t) =>
        t.device_type == Device.Torch.type && (t.device_type == DeviceType.CPU || t.device_index == Device.Torch.index) ? t : t.to(Device.Torch);

    private void CheckNames(IEnumerable<string>? names, string what)
    {
        if (names is null)
        {
            return;
        }

        string[] unknown = [.. names.Where(n => !_valueNames.Contains(n))];
        if (unknown.Length > 0)
        {
            throw new ArgumentException($"Cannot {what} unknown value(s): {string.Join(", ", unknown)}.", what);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Tensor t in _initializers.Where(i => !_borrowedInitializers.Contains(i.Key)).Select(i => i.Value).Concat(_owned))
        {
            t.Dispose();
        }
    }
}

/// <summary>A node compiled for execution: value names in and out, and its kernel.</summary>
/// <param name="Describe">Operator and node name, for messages.</param>
/// <param name="Inputs">Names of the values it reads (empty: an omitted optional input).</param>
/// <param name="Outputs">Names of the values it writes.</param>
/// <param name="Kernel">The compiled computation.</param>
/// <param name="OpType">The ONNX operator (empty for a node an import-time rewrite fused).</param>
internal sealed record CompiledNode(string Describe, string[] Inputs, string[] Outputs, OnnxKernel Kernel, string OpType = "");

/// <summary>
/// An equivalent, faster node sequence (see <see cref="GraphRewrites"/>) and the values it never computes.
/// </summary>
internal sealed record RewrittenNodes(CompiledNode[] Nodes, IReadOnlyCollection<string> Hidden);

/// <summary>A node sequence with its value slots resolved.</summary>
internal sealed class Plan
{
    public Plan(CompiledNode[] nodes, Func<string, int> slot)
    {
        Nodes = nodes;
        InputSlots = [.. nodes.Select(n => n.Inputs.Select(i => i.Length == 0 ? -1 : slot(i)).ToArray())];
        OutputSlots = [.. nodes.Select(n => n.Outputs.Select(o => o.Length == 0 ? -1 : slot(o)).ToArray())];

        // The last node that reads each value, or the node that made it when none reads it.
        var last = new Dictionary<int, int>();
        for (int n = 0; n < nodes.Length; n++)
        {
            foreach (int s in OutputSlots[n].Where(s => s >= 0))
            {
                last[s] = n;
            }

            foreach (int s in InputSlots[n].Where(s => s >= 0))
            {
                last[s] = n;
            }
        }

        var lastReadBy = nodes.Select(_ => new List<int>()).ToArray();
        foreach ((int s, int n) in last)
        {
            lastReadBy[n].Add(s);
        }

        LastReadBy = [.. lastReadBy.Select(l => l.ToArray())];
    }

    public CompiledNode[] Nodes { get; }

    public int[][] InputSlots { get; }

    public int[][] OutputSlots { get; }

    /// <summary>Per node, the slots no later node reads: released once it has run.</summary>
    public int[][] LastReadBy { get; }
}

/// <summary>
/// Which values of one run may be disposed when their slot is released: not the graph's outputs or captured values
/// (kept), not tensors the run does not own (initializers, the caller's inputs and replacements: protected), and not
/// while another slot still holds the same object (a kernel may return its argument itself, e.g. Identity).
/// </summary>
internal sealed class ValueLifetimes(int slots)
{
    private readonly bool[] _kept = new bool[slots];
    private readonly HashSet<Tensor> _protected = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Tensor, int> _holders = new(ReferenceEqualityComparer.Instance);

    public void Keep(int slot) => _kept[slot] = true;

    public Tensor Protect(Tensor value)
    {
        _protected.Add(value);
        return value;
    }

    public Tensor Hold(Tensor value)
    {
        _holders[value] = _holders.GetValueOrDefault(value) + 1;
        return value;
    }

    public void ReleaseIfUnheld(Tensor value)
    {
        if (!_holders.ContainsKey(value) && !_protected.Contains(value))
        {
            value.Dispose();
        }
    }

    public void Release(Tensor?[] values, int slot)
    {
        if (_kept[slot] || values[slot] is not { } value)
        {
            return;
        }

        values[slot] = null;
        if (!_holders.TryGetValue(value, out int holders))
        {
            return; // an input or initializer: never ours to dispose
        }

        if (holders > 1)
        {
            _holders[value] = holders - 1;
            return;
        }

        _holders.Remove(value);
        if (!_protected.Contains(value))
        {
            value.Dispose();
        }
    }
}
