namespace Audit.Evaluators.Onnx;

/// <summary>
/// Bounds on what an uploaded model may contain. Models are untrusted data: every size that drives an
/// allocation is checked against these before any memory is committed.
/// </summary>
public sealed record OnnxImportLimits
{
    /// <summary>Largest accepted model file.</summary>
    public long MaxModelBytes { get; init; } = 1L << 30;

    /// <summary>Sum of all initializer and constant tensor bytes.</summary>
    public long MaxTotalTensorBytes { get; init; } = 1L << 30;

    /// <summary>Elements in any one declared or stored tensor.</summary>
    public long MaxTensorElements { get; init; } = 1L << 28;

    /// <summary>Largest tensor rank.</summary>
    public int MaxRank { get; init; } = 8;

    /// <summary>Largest single dimension.</summary>
    public long MaxDimension { get; init; } = 1L << 24;

    /// <summary>Number of nodes in the graph.</summary>
    public int MaxNodes { get; init; } = 100_000;

    /// <summary>The defaults, sized for the small CNNs, MLPs and transformers the service audits.</summary>
    public static OnnxImportLimits Default { get; } = new();
}
