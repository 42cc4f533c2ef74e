using Audit.Evaluators.Models;

namespace Audit.Evaluators.Onnx;

/// <summary>
/// How every probe sees an imported graph: class scores as logits (<see cref="ClassLogitsView"/> when the graph ends in
/// a softmax) and images channels-first (<see cref="ChannelsFirstView"/> when the graph takes them channels-last).
/// </summary>
internal static class ProbeView
{
    /// <summary>The graph as the probes see it; the views borrow <paramref name="graph"/>, which the caller keeps owning.</summary>
    public static IDifferentiableModel Of(OnnxGraph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        IDifferentiableModel model = graph.FinalNormalisation is { } normalisation
            ? new ClassLogitsView(graph, normalisation.Logits, normalisation.OpType)
            : graph;
        return graph.ChannelsLastImageInput ? new ChannelsFirstView(model) : model;
    }

    /// <summary>The logits view inside a model <see cref="Of"/> made, or null when its graph does not end in a softmax.</summary>
    public static ClassLogitsView? LogitsViewOf(IDifferentiableModel model) => Layers(model).OfType<ClassLogitsView>().FirstOrDefault();

    /// <summary>The imported graph behind a model <see cref="Of"/> made, or null when the model is not one.</summary>
    public static OnnxGraph? GraphBehind(IDifferentiableModel model) => Layers(model).OfType<OnnxGraph>().FirstOrDefault();

    /// <summary>The channel-range view over a model, or null when its channels are read as they come (<see cref="ChannelRangeView"/>).</summary>
    public static ChannelRangeView? ChannelRangeViewOf(IDifferentiableModel model) => Layers(model).OfType<ChannelRangeView>().FirstOrDefault();

    /// <summary>
    /// <paramref name="model"/>, then each model the views <see cref="Of"/> stacks wrap, outermost first (and the
    /// channel-range view the trojan probes' evidence puts around them).
    /// </summary>
    private static IEnumerable<IDifferentiableModel> Layers(IDifferentiableModel model)
    {
        for (IDifferentiableModel? layer = model; layer is not null; layer = layer switch
        {
            ChannelsFirstView view => view.Inner,
            ChannelRangeView view => view.Inner,
            ClassLogitsView view => view.Inner,
            _ => null,
        })
        {
            yield return layer;
        }
    }
}
