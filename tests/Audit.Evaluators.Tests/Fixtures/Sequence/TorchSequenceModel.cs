using Audit.Evaluators.Models;
using Audit.Evaluators.Sequence;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Tests.Fixtures.Sequence;

/// <summary>
/// Tests-only view of a trained <see cref="DecoderTransformer"/> as an <see cref="IDifferentiableModel"/>:
/// the same contract the ONNX importer fulfils, with values captured and replaced through the module's taps.
/// Declares the fixed context as the input length, exactly as the exported ONNX graph does.
/// </summary>
internal sealed class TorchSequenceModel : IDifferentiableModel
{
    private readonly DecoderTransformer module;
    private readonly bool ownsModule;

    public TorchSequenceModel(DecoderTransformer module, ComputeDevice device, bool ownsModule = false)
    {
        this.module = module;
        this.ownsModule = ownsModule;
        Device = device;
        module.to(new torch.Device(device.Name));
        module.eval();
        int context = module.Config.ContextLength;
        Inputs = [new ValueSpec("input_ids", ScalarType.Int64, [-1, context], ["batch", null])];
        Outputs = [new ValueSpec("logits", ScalarType.Float32, [-1, context, module.Config.VocabularySize], ["batch", null, null])];
        ValueNames = module.ValueNames;
    }

    public IReadOnlyList<ValueSpec> Inputs { get; }

    public IReadOnlyList<ValueSpec> Outputs { get; }

    public IReadOnlyList<string> ValueNames { get; }

    public ComputeDevice Device { get; }

    public Tensor Forward(Tensor input) => module.Run(input, null);

    public IReadOnlyDictionary<string, Tensor> Run(
        IReadOnlyDictionary<string, Tensor> inputs,
        IReadOnlyCollection<string>? capture = null,
        IReadOnlyDictionary<string, Tensor>? replace = null)
    {
        Tensor ids = replace is not null && replace.TryGetValue("input_ids", out Tensor? replaced) ? replaced : inputs["input_ids"];
        var results = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        Tensor logits = module.Run(ids, (name, value) =>
        {
            Tensor current = replace is not null && replace.TryGetValue(name, out Tensor? substitute) ? substitute : value;
            if (capture is not null && capture.Contains(name))
            {
                results[name] = current;
            }

            return current;
        });
        results["logits"] = logits;
        return results;
    }

    public void Dispose()
    {
        if (ownsModule)
        {
            module.Dispose();
        }
    }
}
