using System.Text.Json.Nodes;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// What a trojan finding records when the audited model ends in a softmax and was read before it
/// (<see cref="ClassLogitsView"/>; docs/probes.md, "Trojan probes: shared assumptions"): which value of the graph its
/// statistics read, and why.
/// </summary>
internal static class FinalNormaliserRecord
{
    /// <summary>
    /// Adds <c>finalNormaliser</c> to <paramref name="details"/> when <paramref name="context"/>'s model is read through a
    /// <see cref="ClassLogitsView"/>. Nothing is added for a model that outputs its scores directly, so such findings are
    /// unchanged.
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
    }
}
