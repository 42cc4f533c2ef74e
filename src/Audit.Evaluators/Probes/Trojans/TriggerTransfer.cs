using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// How well one recovered trigger works on the audited model and on the reference distilled from it on clean inputs:
/// the share of clean inputs not already predicted as the class that the stamped trigger sends to it. A backdoor does
/// not transfer to the reference (clean inputs never exercise it), a natural feature of the class (a bright blob that
/// reads as <i>bag</i>) does; the calibrated index compares trigger sizes, this compares the same trigger's effect.
/// </summary>
/// <param name="TargetClass">The class whose recovered trigger was stamped (the scan's suspected class).</param>
/// <param name="AuditedAttackRate">Share of the clean inputs the audited model does not already assign to the class that the trigger sends there.</param>
/// <param name="ReferenceAttackRate">The same on the distilled reference (inputs it does not already assign to the class).</param>
internal sealed record TriggerTransfer(int TargetClass, double AuditedAttackRate, double ReferenceAttackRate)
{
    /// <summary>
    /// Rate on the reference from which the trigger counts as also working there: it sends most of the clean inputs to
    /// the class (reported, not part of any verdict).
    /// </summary>
    public const double AlsoWorks = 0.5;

    /// <summary>Whether the trigger sends most clean inputs to its class on the reference too.</summary>
    public bool WorksOnReference => ReferenceAttackRate >= AlsoWorks;

    /// <summary>Stamps <paramref name="triggers"/>' class-<paramref name="target"/> trigger on the clean inputs and measures both models.</summary>
    public static TriggerTransfer Measure(ClassifierEvidence audited, ClassifierEvidence reference, ReverseEngineeredTriggers triggers, int target, CancellationToken cancellationToken) =>
        new(target, Rate(audited, triggers, target, cancellationToken), Rate(reference, triggers, target, cancellationToken));

    private static double Rate(ClassifierEvidence model, ReverseEngineeredTriggers triggers, int target, CancellationToken cancellationToken)
    {
        using var scope = torch.NewDisposeScope();
        Tensor others = model.Predict(model.Inputs, cancellationToken).Ne(target);
        long count = others.sum().item<long>();
        if (count == 0)
        {
            return 0;
        }

        // Stamped one forward batch at a time (the same values as stamping all inputs at once): at 3×64×64 the
        // stamped copy of the dataset and its intermediates held 150 MB.
        Tensor predicted = model.Batched(
            model.Count,
            (start, size) => model.Model.Forward(triggers.Stamp(model.Inputs.narrow(0, start, size), target)).argmax(1),
            cancellationToken);
        Tensor sent = predicted.Eq(target).logical_and(others);
        return sent.sum().item<long>() / (double)count;
    }
}
