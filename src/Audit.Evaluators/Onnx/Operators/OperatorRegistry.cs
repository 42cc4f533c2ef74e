namespace Audit.Evaluators.Onnx.Operators;

/// <summary>One supported operator: from which opset of the default domain, and how to compile a node.</summary>
internal sealed record OperatorDefinition(string OpType, int SinceOpset, Func<NodeContext, OnnxKernel> Build);

/// <summary>The table of supported operators, filled by one registration method per operator family.</summary>
internal sealed class OperatorRegistry
{
    /// <summary>
    /// Highest default-domain opset whose operator definitions we have checked our semantics against.
    /// Later opsets may change an operator's meaning, so they are not claimed. Opsets 25 to 27 only widened the
    /// element types of the operators supported here; types libtorch lacks are refused per value.
    /// </summary>
    public const int MaxOpset = 27;

    private readonly Dictionary<string, OperatorDefinition> _operators = new(StringComparer.Ordinal);

    // Operators of the com.microsoft domain (ONNX Runtime's contrib operators), keyed by op type; that domain is
    // versioned separately and has only ever had version 1 of the ones supported here.
    private readonly Dictionary<string, OperatorDefinition> _microsoft = new(StringComparer.Ordinal);

    private OperatorRegistry()
    {
        ElementwiseOperators.Register(this);
        ActivationOperators.Register(this);
        LinearOperators.Register(this);
        ConvolutionOperators.Register(this);
        PoolingOperators.Register(this);
        NormalizationOperators.Register(this);
        ShapeOperators.Register(this);
        IndexingOperators.Register(this);
        ReductionOperators.Register(this);
        MicrosoftContribOperators.Register(this);
    }

    public static OperatorRegistry Instance { get; } = new();

    public IEnumerable<OperatorDefinition> All => _operators.Values.OrderBy(o => o.OpType, StringComparer.Ordinal);

    public void Add(string opType, int sinceOpset, Func<NodeContext, OnnxKernel> build) =>
        _operators.Add(opType, new OperatorDefinition(opType, sinceOpset, build));

    /// <summary>Operators of the <c>com.microsoft</c> domain, by op type.</summary>
    public IEnumerable<OperatorDefinition> Microsoft => _microsoft.Values.OrderBy(o => o.OpType, StringComparer.Ordinal);

    public void AddMicrosoft(string opType, Func<NodeContext, OnnxKernel> build) =>
        _microsoft.Add(opType, new OperatorDefinition(opType, 1, build));

    public OperatorDefinition? Find(string opType, string domain, int opset)
    {
        if (opset > MaxOpset)
        {
            return null;
        }

        if (domain == OnnxOperatorSupport.MicrosoftDomain)
        {
            return _microsoft.GetValueOrDefault(opType);
        }

        return OnnxOperatorSupport.IsDefaultDomain(domain) && _operators.TryGetValue(opType, out OperatorDefinition? d) && opset >= d.SinceOpset
            ? d
            : null;
    }
}
