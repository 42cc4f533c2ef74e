using Audit.Evaluators.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Probes;

/// <summary>
/// Test adapter: a TorchSharp <see cref="Sequential"/> seen as an <see cref="IDifferentiableModel"/>, with one value per
/// child (named like the exported ONNX graph's values). Used until the ONNX importer is available.
/// </summary>
internal sealed class SequentialModel : IDifferentiableModel
{
    private readonly Sequential module;
    private readonly (string Name, nn.Module<Tensor, Tensor> Layer)[] layers;

    public SequentialModel(Sequential module, long[] sampleShape, int classes)
    {
        this.module = module;
        module.eval();
        foreach (var parameter in module.parameters())
        {
            parameter.requires_grad_(false);
        }

        layers = module.named_children().Select(c => (c.name, (nn.Module<Tensor, Tensor>)c.module)).ToArray();
        Inputs = [new ValueSpec("input", ScalarType.Float32, [-1, .. sampleShape], ["N", .. sampleShape.Select(_ => (string?)null)])];
        Outputs = [new ValueSpec("logits", ScalarType.Float32, [-1, classes], ["N", null])];
        ValueNames = ["input", .. layers.Select(l => l.Name), "logits"];
    }

    public IReadOnlyList<ValueSpec> Inputs { get; }

    public IReadOnlyList<ValueSpec> Outputs { get; }

    public IReadOnlyList<string> ValueNames { get; }

    public ComputeDevice Device => ComputeDevice.Cpu;

    public Tensor Forward(Tensor input) => module.forward(input);

    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        var result = new Dictionary<string, Tensor>();
        Tensor current = replace?.GetValueOrDefault("input") ?? inputs["input"];
        Keep("input", current);
        foreach ((string name, var layer) in layers)
        {
            current = replace?.GetValueOrDefault(name) ?? layer.forward(current);
            Keep(name, current);
        }

        result["logits"] = current;
        return result;

        void Keep(string name, Tensor value)
        {
            if (capture?.Contains(name) == true)
            {
                result[name] = value;
            }
        }
    }

    public void Dispose() => module.Dispose();
}

/// <summary>Hands probes one model, as the audit's model source does.</summary>
internal sealed class FixedModelSource(IDifferentiableModel model) : IModelSource
{
    public IDifferentiableModel Load(CancellationToken cancellationToken) => model;
}
