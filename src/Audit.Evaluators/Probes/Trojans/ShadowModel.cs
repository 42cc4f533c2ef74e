using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>How a shadow model is re-initialised and trained; part of the probe's outcome key through its parameters.</summary>
/// <param name="Steps">Adam steps over the shadow's training inputs.</param>
/// <param name="BatchSize">Inputs per step.</param>
/// <param name="LearningRate">Adam's learning rate (Kingma and Ba's default, 1e-3).</param>
/// <param name="Seed">Seeds the weights' draw and the batches.</param>
internal sealed record ShadowSettings(int Steps, int BatchSize, double LearningRate, int Seed)
{
    /// <summary>Inputs whose activations set a BatchNormalization node's statistics at initialisation.</summary>
    public const int StatisticsInputs = 256;
}

/// <summary>
/// A shadow of the audited model: the same imported graph with its learnt weights replaced by a fresh draw and
/// trained on clean inputs with hard labels. Shadow models of a known architecture trained on the defender's clean
/// data are Xu et al.'s (MNTD, "Detecting AI Trojans Using Meta Neural Analysis", IEEE S&amp;P 2021) and Kolouri et
/// al.'s (ULP, CVPR 2020) yardstick; here the architecture is the audited one itself, read from its ONNX graph, so
/// what is natural for that architecture on that data (which class pairs are close) is natural for the shadow too,
/// while a trigger the clean inputs never carry cannot be learnt from them.
/// </summary>
/// <remarks>
/// Re-initialised: the weights (input 1) and biases (input 2) of Conv, ConvTranspose and Gemm, MatMul weights, and
/// a one-dimensional Add operand right after a MatMul (its bias), each drawn uniformly from ±1/√fan-in (the default of
/// PyTorch's Linear and Conv layers, after He et al., ICCV 2015); BatchNormalization's scale and shift start at 1 and
/// 0, its running statistics are set once from the shadow's own activations on clean inputs (data-dependent
/// initialisation, as in Krähenbühl et al., ICLR 2016) and then kept, so the graph keeps running in inference mode.
/// Every other initializer (shapes, constants, normalisation the exporter baked in) stays as exported. A graph none
/// of whose weights this recognises has no shadow (<see cref="TryTrain"/> returns null).
/// </remarks>
internal sealed class ShadowModel : IDifferentiableModel
{
    private readonly OnnxGraph graph;
    private readonly IDifferentiableModel view;

    private ShadowModel(OnnxGraph graph, IDifferentiableModel audited, int reinitialised)
    {
        this.graph = graph;
        // The shadow sees its inputs as the audited model does, channel ranges included.
        IDifferentiableModel probeView = ProbeView.Of(graph);
        view = ProbeView.ChannelRangeViewOf(audited) is { } ranges ? ranges.Of(probeView) : probeView;
        Reinitialised = reinitialised;
    }

    /// <summary>Initializers drawn afresh (weights, biases, normalisation parameters).</summary>
    public int Reinitialised { get; }

    /// <summary>Share of its training inputs on which the trained shadow gives the label it was trained on.</summary>
    public double TrainingAgreement { get; private set; }

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Inputs => view.Inputs;

    /// <inheritdoc />
    public IReadOnlyList<ValueSpec> Outputs => view.Outputs;

    /// <inheritdoc />
    public IReadOnlyList<string> ValueNames => view.ValueNames;

    /// <inheritdoc />
    public ComputeDevice Device => view.Device;

    /// <inheritdoc />
    public Tensor Forward(Tensor input) => view.Forward(input);

    /// <inheritdoc />
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyCollection<string>? capture = null, IReadOnlyDictionary<string, Tensor>? replace = null) =>
        view.Run(inputs, capture, replace);

    /// <summary>
    /// Trains a shadow of <paramref name="audited"/> on <paramref name="inputs"/> (as the probes see them, channels
    /// first) with <paramref name="labels"/>; null when the model is not an imported graph or none of its weights is
    /// recognised.
    /// </summary>
    public static ShadowModel? TryTrain(IDifferentiableModel audited, Tensor inputs, Tensor labels, ShadowSettings settings, CancellationToken cancellationToken)
    {
        OnnxGraph? original = ProbeView.GraphBehind(audited);
        if (original is null)
        {
            return null;
        }

        Dictionary<string, Tensor> fresh = Reinitialise(original, audited, inputs, settings, cancellationToken);
        if (fresh.Count == 0)
        {
            return null;
        }

        OnnxGraph copy = original.WithInitializers(fresh);
        var shadow = new ShadowModel(copy, audited, fresh.Count);
        try
        {
            SetNormalisationStatistics(original, shadow, inputs, cancellationToken);
            shadow.TrainingAgreement = Train(shadow, [.. fresh.Values.OfType<TorchSharp.Modules.Parameter>()], inputs, labels, settings, cancellationToken);
            return shadow;
        }
        catch
        {
            shadow.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        if (!ReferenceEquals(view, graph))
        {
            view.Dispose();
        }

        graph.Dispose();
    }

    /// <summary>The fresh initializers by name: trainable weights and biases, and normalisation statistics (not trained).</summary>
    private static Dictionary<string, Tensor> Reinitialise(OnnxGraph graph, IDifferentiableModel audited, Tensor inputs, ShadowSettings settings, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<string, Tensor> initializers = graph.Initializers;
        bool IsFloatInitializer(string name) => name.Length > 0 && initializers.TryGetValue(name, out Tensor? t) && t.is_floating_point();

        // A Gemm's fan-in is its first operand's last dimension (transB decides the weight's orientation, and the
        // compiled node does not keep attributes): read it from one forward of the audited model.
        CompiledNode[] gemms = [.. graph.Nodes.Where(n => n.OpType == "Gemm" && n.Inputs.Length > 1 && IsFloatInitializer(n.Inputs[1]) && !initializers.ContainsKey(n.Inputs[0]))];
        Dictionary<string, long> gemmFanIn = new(StringComparer.Ordinal);
        if (gemms.Length > 0)
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            string[] names = [.. gemms.Select(n => n.Inputs[0]).Where(audited.ValueNames.Contains).Distinct()];
            IReadOnlyDictionary<string, Tensor> captured = audited.Run(new Dictionary<string, Tensor> { [audited.Inputs[0].Name] = inputs[..1] }, names);
            foreach (CompiledNode gemm in gemms)
            {
                if (captured.TryGetValue(gemm.Inputs[0], out Tensor? a))
                {
                    gemmFanIn[gemm.Inputs[1]] = a.shape[^1];
                }
            }
        }

        // Per initializer: how to draw it (fan-in for a uniform ±1/√fan-in draw; 1 or 0 for a normalisation's scale or
        // shift; NaN for running statistics set later from activations).
        var plan = new Dictionary<string, (double FanIn, double Constant, bool Trainable)>(StringComparer.Ordinal);
        var producer = new Dictionary<string, CompiledNode>(StringComparer.Ordinal);
        foreach (CompiledNode node in graph.Nodes)
        {
            cancellationToken.ThrowIfCancellationRequested();
            string[] x = node.Inputs;
            switch (node.OpType)
            {
                case "Conv" or "ConvTranspose" when x.Length > 1 && IsFloatInitializer(x[1]):
                {
                    long[] shape = initializers[x[1]].shape;
                    double fanIn = shape.Skip(1).Aggregate(1L, (a, b) => a * b);
                    plan.TryAdd(x[1], (fanIn, double.NaN, true));
                    if (x.Length > 2 && IsFloatInitializer(x[2]))
                    {
                        plan.TryAdd(x[2], (fanIn, double.NaN, true));
                    }

                    break;
                }

                case "Gemm" when x.Length > 1 && gemmFanIn.TryGetValue(x[1], out long fanIn):
                    plan.TryAdd(x[1], (fanIn, double.NaN, true));
                    if (x.Length > 2 && IsFloatInitializer(x[2]))
                    {
                        plan.TryAdd(x[2], (fanIn, double.NaN, true));
                    }

                    break;
                case "MatMul" when x.Length > 1 && IsFloatInitializer(x[1]) && initializers[x[1]].dim() == 2:
                    plan.TryAdd(x[1], (initializers[x[1]].shape[0], double.NaN, true));
                    break;
                case "Add" when x.Length == 2:
                {
                    // A MatMul's bias, exported as a separate Add of a vector.
                    int vector = IsFloatInitializer(x[1]) ? 1 : IsFloatInitializer(x[0]) ? 0 : -1;
                    if (vector >= 0 && initializers[x[vector]].dim() == 1
                        && producer.TryGetValue(x[1 - vector], out CompiledNode? matMul) && matMul.OpType == "MatMul"
                        && plan.TryGetValue(matMul.Inputs[1], out var weight))
                    {
                        plan.TryAdd(x[vector], (weight.FanIn, double.NaN, true));
                    }

                    break;
                }

                case "BatchNormalization" when x.Length == 5 && x.Skip(1).All(IsFloatInitializer):
                    plan.TryAdd(x[1], (double.NaN, 1, true));
                    plan.TryAdd(x[2], (double.NaN, 0, true));
                    plan.TryAdd(x[3], (double.NaN, 0, false));
                    plan.TryAdd(x[4], (double.NaN, 1, false));
                    break;
            }

            foreach (string output in node.Outputs.Where(o => o.Length > 0))
            {
                producer[output] = node;
            }
        }

        using var generator = new torch.Generator(unchecked((ulong)settings.Seed * 2_654_435_761UL + 97UL));
        var fresh = new Dictionary<string, Tensor>(StringComparer.Ordinal);

        // In the graph's node order, so the draw does not depend on dictionary order.
        foreach ((string name, (double fanIn, double constant, bool trainable)) in plan)
        {
            Tensor original = initializers[name];
            using var scope = torch.NewDisposeScope();
            Tensor value = double.IsNaN(constant)
                ? torch.rand(original.shape, dtype: ScalarType.Float32, generator: generator).Mul(2).Sub(1).Div(Math.Sqrt(Math.Max(1, fanIn)))
                : HeldScalars.Full(original.shape, constant, ScalarType.Float32);
            Tensor placed = value.to(original.dtype).to(original.device).detach();
            fresh[name] = trainable ? new TorchSharp.Modules.Parameter(placed.DetachFromDisposeScope(), requires_grad: true) : placed.DetachFromDisposeScope();
        }

        return fresh;
    }

    /// <summary>Each BatchNormalization's running mean and variance from the shadow's own activations, in node order.</summary>
    private static void SetNormalisationStatistics(OnnxGraph original, ShadowModel shadow, Tensor inputs, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<string, Tensor> current = shadow.graph.Initializers;
        Tensor batch = inputs[..(int)Math.Min(ShadowSettings.StatisticsInputs, inputs.shape[0])];
        foreach (CompiledNode node in original.Nodes.Where(n => n.OpType == "BatchNormalization" && n.Inputs.Length == 5))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!shadow.ValueNames.Contains(node.Inputs[0]))
            {
                continue;
            }

            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            Tensor activations = shadow.Run(new Dictionary<string, Tensor> { [shadow.Inputs[0].Name] = batch }, [node.Inputs[0]])[node.Inputs[0]];
            long[] reduce = [0, .. Enumerable.Range(2, (int)activations.dim() - 2).Select(d => (long)d)];
            current[node.Inputs[3]].copy_(activations.mean(reduce));
            current[node.Inputs[4]].copy_(activations.var(reduce, unbiased: false));
        }
    }

    /// <summary>Adam on cross-entropy over seeded batches; returns the agreement with the labels on the training inputs.</summary>
    private static double Train(ShadowModel shadow, TorchSharp.Modules.Parameter[] parameters, Tensor inputs, Tensor labels, ShadowSettings settings, CancellationToken cancellationToken)
    {
        long count = inputs.shape[0];
        using var optimizer = new HeldScalarAdam(parameters, settings.LearningRate);
        using var generator = new torch.Generator(unchecked((ulong)settings.Seed * 40_503UL + 11UL));
        Tensor? order = null;
        long at = count;
        try
        {
            for (int step = 0; step < settings.Steps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (at + settings.BatchSize > count)
                {
                    order?.Dispose();
                    order = torch.randperm(count, generator: generator).to(inputs.device);
                    at = 0;
                }

                using var scope = torch.NewDisposeScope();
                Tensor chosen = order!.narrow(0, at, Math.Min(settings.BatchSize, count));
                at += settings.BatchSize;
                optimizer.zero_grad();
                Tensor logits = shadow.Forward(inputs.index_select(0, chosen));
                nn.functional.cross_entropy(logits, labels.index_select(0, chosen)).backward();
                optimizer.step();
            }
        }
        finally
        {
            order?.Dispose();
        }

        using var evaluation = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        long agreed = 0;
        for (long start = 0; start < count; start += 256)
        {
            long size = Math.Min(256, count - start);
            agreed += shadow.Forward(inputs.narrow(0, start, size)).argmax(1).eq(labels.narrow(0, start, size)).sum().item<long>();
        }

        return (double)agreed / count;
    }
}
