using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Models;

/// <summary>
/// A model as a graph of TorchSharp operations: runs forward on batches, supports autograd,
/// and lets probes capture or replace any named intermediate value (activation patching).
/// </summary>
public interface IDifferentiableModel : IDisposable
{
    /// <summary>Graph inputs in order (name, element type, shape with -1 for symbolic dimensions).</summary>
    IReadOnlyList<ValueSpec> Inputs { get; }

    /// <summary>Graph outputs in order.</summary>
    IReadOnlyList<ValueSpec> Outputs { get; }

    /// <summary>Names of every intermediate value that can be captured or replaced.</summary>
    IReadOnlyList<string> ValueNames { get; }

    /// <summary>Where parameters live.</summary>
    ComputeDevice Device { get; }

    /// <summary>Runs the first input to the first output (the common case: classifier logits).</summary>
    Tensor Forward(Tensor input);

    /// <summary>
    /// Runs the graph. Captured values are returned alongside the outputs under their value names;
    /// replacements substitute a value (graph input or intermediate) before its consumers run.
    /// </summary>
    IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null);
}

/// <summary>A graph input, output or value: its name, element type and shape (-1 where symbolic).</summary>
public sealed record ValueSpec(string Name, ScalarType ElementType, IReadOnlyList<long> Shape, IReadOnlyList<string?> DimensionNames);
