using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Domain.Findings;
using Audit.Evaluators.Inventory;

namespace Audit.Evaluators.Probes;

/// <summary>
/// Inventory check: the model parses as self-contained ONNX, declares its interface, and every operator
/// is one the evaluators can execute. The statistic is the number of unsupported operators (flagged at ≥ threshold,
/// default 1), because a model we cannot execute cannot be probed and the audit must say so.
/// Also bounds parameter count, so a profile can require a model to stay within a declared size.
/// </summary>
public sealed class ModelInventoryProbe : IProbe
{
    public ProbeDescriptor Descriptor { get; } = new(
        Name: "model-inventory",
        Title: "Model inventory and executability",
        Citation: "ONNX specification (onnx.ai, IR version 10, 2024); inventory practice per NIST AI 100-1 MAP 2.2 (2023)",
        ModelKinds: ModelKinds.Any,
        Evidence: EvidenceKind.None,
        DefaultThreshold: 1,
        ThresholdMeaning: "Statistic: operators the evaluators cannot execute (plus 1 if one forward pass on a synthetic input fails, plus 1 if the parameter count exceeds maxParameters). Flagged when ≥ threshold.",
        Parameters:
        [
            new ProbeParameter("maxParameters", ProbeParameterType.Integer,
                "Largest parameter count the profile accepts.", JsonSerializer.SerializeToElement(2_000_000_000L), 1, 1e12),
        ]);

    public Task<ProbeOutcome> RunAsync(ProbeContext context, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The upload's inspection (with its measured forward pass) when the session was given it: the file is not
        // parsed again. Without one, the model is inspected and run here.
        ModelInventory inventory = context.Inventory ?? ModelInspector.InspectAndRun(context.ModelPath, cancellationToken);
        long maxParameters = context.Parameters["maxParameters"].GetInt64();
        bool oversized = inventory.ParameterCount > maxParameters;

        // A model whose operators are all known can still fail to run (shapes, types, a bad graph): only a measured
        // forward pass counts as executable.
        bool failedToRun = inventory.UnsupportedOperators.Count == 0 && inventory.Executable == false;
        double statistic = inventory.UnsupportedOperators.Count + (failedToRun ? 1 : 0) + (oversized ? 1 : 0);
        double score = statistic / context.Threshold;
        Verdict verdict = score >= 1 ? Verdict.Fail : Verdict.Pass;
        context.Progress.Report(1);

        string kind = inventory.Interface is { } detected ? $"{detected.Kind}, " : "";
        string summary = verdict == Verdict.Pass
            ? $"Self-contained ONNX model ({kind}IR {inventory.IrVersion}, {inventory.OperatorCounts.Values.Sum()} nodes, {inventory.ParameterCount:N0} parameters); "
                + (inventory.Executable == true ? "one forward pass on a synthetic input ran." : "every operator is supported.")
            : inventory.UnsupportedOperators.Count > 0
                ? $"The model uses operators the evaluators cannot execute: {string.Join(", ", inventory.UnsupportedOperators)}."
                : failedToRun
                    ? $"The model could not be executed on a synthetic input: {inventory.ExecutionError}"
                    : $"The model has {inventory.ParameterCount:N0} parameters, above the declared maximum of {maxParameters:N0}.";

        var details = new JsonObject
        {
            ["statistic"] = statistic,
            ["threshold"] = context.Threshold,
            ["inventory"] = JsonSerializer.SerializeToNode(inventory, InventoryJson.Options),
        };
        return Task.FromResult(new ProbeOutcome(verdict, score, summary, details, []));
    }
}
