using Audit.Evaluators.Models;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// The audited ONNX model from a file, imported once on the audit's device and cached for every probe.
/// Import errors (<see cref="ModelRejectedException"/>, <see cref="UnsupportedOperatorException"/>) surface on
/// the first <see cref="Load"/> and again on every later call, without re-reading the file.
/// </summary>
public sealed class OnnxModelSource : IModelSource, IDisposable
{
    private readonly Lazy<OnnxGraph> _graph;
    private readonly Lazy<IDifferentiableModel> _model;

    public OnnxModelSource(string path, ComputeDevice device, OnnxImportLimits? limits = null)
    {
        Path = path;
        Device = device;
        _graph = new Lazy<OnnxGraph>(() => OnnxModelLoader.Load(path, device, limits), LazyThreadSafetyMode.ExecutionAndPublication);
        _model = new Lazy<IDifferentiableModel>(() => ProbeView.Of(_graph.Value), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The model file.</summary>
    public string Path { get; }

    /// <summary>Where the graph's tensors live.</summary>
    public ComputeDevice Device { get; }

    /// <inheritdoc />
    /// <remarks>
    /// A channels-last image model comes as a <see cref="ChannelsFirstView"/>, so every probe sees images <c>[N, C, H, W]</c>;
    /// a model that ends in a softmax comes as a <see cref="ClassLogitsView"/>, so every probe reads logits.
    /// </remarks>
    public IDifferentiableModel Load(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return _model.Value;
    }

    /// <summary>Releases the graph's tensors if it was loaded.</summary>
    public void Dispose()
    {
        if (_graph.IsValueCreated)
        {
            _graph.Value.Dispose();
        }
    }
}
