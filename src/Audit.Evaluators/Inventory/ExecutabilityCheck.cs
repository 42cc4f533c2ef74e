using System.Runtime.InteropServices;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Inventory;

/// <summary>Bounds on the forward pass that decides whether an uploaded model is executable.</summary>
/// <param name="Timeout">Wall-clock limit of the import and the run together.</param>
/// <param name="MaxValueBytes">Largest single value (a declared one, or one a node produces) the run may hold.</param>
/// <param name="Batch">Batch for symbolic leading dimensions.</param>
/// <param name="SequenceLength">Length for every other symbolic dimension (past key/value lengths are 0).</param>
public sealed record ExecutionCheckOptions(TimeSpan Timeout, long MaxValueBytes, int Batch, int SequenceLength)
{
    /// <summary>20 s, 512 MiB per value, batch 2, length 8.</summary>
    public static ExecutionCheckOptions Default { get; } = new(TimeSpan.FromSeconds(20), 512L << 20, 2, 8);
}

/// <summary>
/// Measures executability instead of assuming it from the operator list: imports the graph on the CPU and runs one
/// forward pass on a small synthetic input of the declared shape. Failure is a result (with the reason), not an
/// exception, so an upload still gets its inventory.
/// </summary>
internal static class ExecutabilityCheck
{
    public sealed record Result(bool Executable, string? Error, IReadOnlyDictionary<string, long[]>? OutputShapes);

    public static Result Run(ModelProto model, byte[] bytes, OnnxImportLimits limits, ExecutionCheckOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        string? tooLarge = DeclaredValueTooLarge(model, options);
        if (tooLarge is not null)
        {
            return new Result(false, tooLarge, null);
        }

        // The time limit is for the model's forward pass, not for this process's first use of libtorch: loading it and
        // checking its convolution kernels takes under a second on an idle machine but passed 20 s on a 2-core CI
        // machine running five test processes (2026-12-02), failing the upload of a model that runs in milliseconds.
        ConvolutionKernelCheck.EnsureVerified();
        using var timeout = new CancellationTokenSource(options.Timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, cancellationToken);
        try
        {
            using OnnxGraph graph = OnnxModelLoader.Load(bytes, ComputeDevice.Cpu, limits);
            using DisposeScope scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            Dictionary<string, Tensor> inputs = SyntheticInputs.Build(graph.Inputs, options.Batch, options.SequenceLength, CPU);
            IReadOnlyDictionary<string, Tensor> outputs = graph.Run(inputs, null, null, options.MaxValueBytes, linked.Token);
            var shapes = outputs.ToDictionary(o => o.Key, o => o.Value.shape, StringComparer.Ordinal);
            string? nonFinite = outputs.Where(o => o.Value.is_floating_point() && !o.Value.isfinite().all().item<bool>()).Select(o => o.Key).FirstOrDefault();
            return nonFinite is null
                ? new Result(true, null, shapes)
                : new Result(false, $"Output '{nonFinite}' is not finite (NaN or infinity) on a synthetic input.", shapes);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            return new Result(false, $"One forward pass on a synthetic input did not finish within {options.Timeout.TotalSeconds:0} s.", null);
        }
        catch (Exception e) when (e is UnsupportedOperatorException or ModelRejectedException or InvalidOperationException or ArgumentException or ExternalException)
        {
            return new Result(false, e.Message, null);
        }
    }

    /// <summary>A value whose declared shape, at the synthetic sizes, already exceeds the budget: refused before running.</summary>
    private static string? DeclaredValueTooLarge(ModelProto model, ExecutionCheckOptions options)
    {
        foreach (ValueInfoProto v in model.Graph.Input.Concat(model.Graph.Output).Concat(model.Graph.ValueInfo))
        {
            if (v.Type?.TensorType?.Shape is not { } shape || OnnxTensors.ToScalarType(v.Type.TensorType.ElemType) is not { } type)
            {
                continue;
            }

            double bytes = OnnxTensors.ElementSize(type);
            for (int d = 0; d < shape.Dim.Count; d++)
            {
                bytes *= shape.Dim[d].HasDimValue ? shape.Dim[d].DimValue : d == 0 ? options.Batch : options.SequenceLength;
            }

            if (bytes > options.MaxValueBytes)
            {
                return $"Value '{v.Name}' would need {bytes:0} bytes at batch {options.Batch}; at most {options.MaxValueBytes} are allowed for the executability check.";
            }
        }

        return null;
    }
}

/// <summary>Small inputs of a graph's declared shapes, filled as each input's role expects.</summary>
internal static class SyntheticInputs
{
    public static Dictionary<string, Tensor> Build(IReadOnlyList<ValueSpec> inputs, long batch, long length, Device device)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var roles = inputs.ToDictionary(i => i.Name, i => InputRoles.Of(i.Name, Onnx.Operators.Kernels.IsFloating(i.ElementType), i.Shape.Count), StringComparer.Ordinal);

        // Same-named symbolic dimensions take the same size. Past key/values come last: their batch dimension is named
        // as the ids' batch (ONNX Runtime's GPT-2 layout [2, batch, heads, past, head] has it second); any other
        // symbolic dimension of theirs is the past length, 0.
        var sizes = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (ValueSpec spec in inputs.OrderBy(i => roles[i.Name] == InputRoles.PastKeyValues))
        {
            string role = roles[spec.Name];
            bool past = role == InputRoles.PastKeyValues;
            long[] shape = new long[spec.Shape.Count];
            for (int d = 0; d < shape.Length; d++)
            {
                string? name = spec.DimensionNames.Count > d ? spec.DimensionNames[d] : null;
                shape[d] = spec.Shape[d] >= 0 ? spec.Shape[d]
                    : name is not null && sizes.TryGetValue(name, out long known) ? known
                    : past ? (d == 0 ? batch : 0)
                    : d == 0 ? batch : length;
                if (name is not null && !past)
                {
                    sizes.TryAdd(name, shape[d]);
                }
            }
            result[spec.Name] = role switch
            {
                InputRoles.AttentionMask => torch.ones(shape, dtype: spec.ElementType, device: device),
                InputRoles.PositionIds => HeldScalars.Arange(shape.Length == 0 ? 1 : shape[^1], ScalarType.Int64, device)
                    .expand(shape).to_type(spec.ElementType),
                // A fixed pattern in [0, 1), not torch.rand: the check must not move the global generator that the
                // audit's seeded probes draw from after it.
                InputRoles.Image or InputRoles.Features => HeldScalars.Arange(shape.Aggregate(1L, (a, b) => a * b), ScalarType.Float64, device)
                    .Mul(0.6180339887).frac().reshape(shape).to_type(spec.ElementType),
                _ => torch.zeros(shape, dtype: spec.ElementType, device: device),
            };
        }

        return result;
    }
}
