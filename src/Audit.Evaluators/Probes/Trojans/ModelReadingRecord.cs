using System.Text.Json.Nodes;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// What a trojan finding records about how its statistics read the model, where that departs from reading its output
/// and its evidence as they come (docs/probes.md, "Trojan probes: shared assumptions"): a model that ends in a softmax
/// is read before it (<see cref="ClassLogitsView"/>), and evidence whose channels span ranges of their own is read per
/// channel (<see cref="ChannelRanges"/>).
/// </summary>
internal static class ModelReadingRecord
{
    /// <summary>
    /// Adds <c>finalNormaliser</c> to <paramref name="details"/> when <paramref name="context"/>'s model is read through a
    /// <see cref="ClassLogitsView"/>, and <c>channelRanges</c> when the audit's evidence was read per channel. Nothing is
    /// added for a model that outputs its scores directly and evidence whose channels share one range, so such findings
    /// are unchanged.
    /// </summary>
    public static void AddTo(JsonObject details, ProbeContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(details);
        ArgumentNullException.ThrowIfNull(context);
        if (ProbeView.LogitsViewOf(context.Models.Load(cancellationToken)) is { } view)
        {
            details["finalNormaliser"] = new JsonObject
            {
                ["operator"] = view.NormalisedBy,
                ["modelOutput"] = view.NormalisedOutput.Name,
                ["logitsRead"] = view.Logits,
                ["why"] = $"The model's output '{view.NormalisedOutput.Name}' is a {view.NormalisedBy} of its class scores; every statistic reads the scores before it ('{view.Logits}'), as the detectors and their fitted thresholds are defined on logits.",
            };
        }

        // Computed by the evidence's first load in this audit (never here: a finding of a probe that loaded no evidence
        // has nothing to say about it).
        if (context.DatasetPath is { } dataset
            && context.Session.TryGetComputed(ChannelRanges.SessionKey(dataset), out ChannelRanges? ranges)
            && ranges.ReadPerChannel)
        {
            details["channelRanges"] = ranges.Details();
        }
    }
}
