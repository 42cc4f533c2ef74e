namespace Audit.Evaluators.Inventory;

/// <summary>What an uploaded ONNX model declares: the facts a report's appendix and an auditor need first.</summary>
/// <param name="IrVersion">ONNX IR version of the file.</param>
/// <param name="Opsets">Operator set imports, domain ("" is the default ONNX domain) to version.</param>
/// <param name="Producer">Producer name and version recorded by the exporter, if any.</param>
/// <param name="Inputs">Graph inputs that are not initializers.</param>
/// <param name="Outputs">Graph outputs.</param>
/// <param name="OperatorCounts">How many nodes use each operator, keyed "domain::op" for non-default domains.</param>
/// <param name="ParameterCount">Elements across all initializers.</param>
/// <param name="ParameterBytes">Raw bytes of all initializers.</param>
/// <param name="UnsupportedOperators">Operators the importer cannot run; an audit of such a model fails with this list.</param>
/// <param name="Interface">The kind of model and the role of each input, when inspected with a run.</param>
/// <param name="Executable">Whether one forward pass on a small synthetic input ran (null when not tried).</param>
/// <param name="ExecutionError">Why the import or the run failed, when <paramref name="Executable"/> is false.</param>
public sealed record ModelInventory(
    long IrVersion,
    IReadOnlyDictionary<string, long> Opsets,
    string? Producer,
    IReadOnlyList<TensorDescription> Inputs,
    IReadOnlyList<TensorDescription> Outputs,
    IReadOnlyDictionary<string, int> OperatorCounts,
    long ParameterCount,
    long ParameterBytes,
    IReadOnlyList<string> UnsupportedOperators,
    ModelInterface? Interface = null,
    bool? Executable = null,
    string? ExecutionError = null);

/// <summary>A named tensor with its element type and shape; symbolic dimensions keep their names.</summary>
/// <param name="Name">Value name in the graph.</param>
/// <param name="ElementType">ONNX element type in lower case, e.g. <c>float</c>, <c>int64</c>.</param>
/// <param name="Shape">Each dimension as a number, a symbol such as "batch", or "?" when unknown.</param>
public sealed record TensorDescription(string Name, string ElementType, IReadOnlyList<string> Shape);
