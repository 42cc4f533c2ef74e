using System.Text.Json;
using Audit.Evaluators.Datasets;
using TorchSharp;

namespace Audit.Evaluators.Probes.Deception;

/// <summary>What every deception probe does around its measurement: load model and evidence, seed, report the device.</summary>
internal static class SequenceProbeHost
{
    /// <summary>Parameter every sequence probe accepts: the context length when the graph leaves it symbolic.</summary>
    public static ProbeParameter ContextLength { get; } = Integer("contextLength", "Override for the longest sequence the model accepts when the ONNX graph leaves it symbolic (0 = none: the evidence's longest record decides).", 0, 0, 8192);

    public static ProbeParameter BatchSize { get; } = Integer("batchSize", "Sequences per forward pass.", 64, 1, 4096);

    public static ProbeParameter Integer(string name, string description, int value, double minimum, double maximum) =>
        new(name, ProbeParameterType.Integer, description, JsonSerializer.SerializeToElement(value), minimum, maximum);

    public static ProbeParameter Number(string name, string description, double value, double minimum, double maximum) =>
        new(name, ProbeParameterType.Number, description, JsonSerializer.SerializeToElement(value), minimum, maximum);

    public static ProbeParameter Text(string name, string description, string value) =>
        new(name, ProbeParameterType.String, description, JsonSerializer.SerializeToElement(value));

    /// <summary>
    /// Runs <paramref name="measure"/> off the caller's thread (on the lane's thread when the probe runs in a lane) with
    /// the model and validated evidence.
    /// Evidence that does not fit the model throws <see cref="EvidenceRejectedException"/> (422); a model the probe
    /// cannot read, or missing evidence, gives an inconclusive outcome, never a pass.
    /// </summary>
    public static Task<ProbeOutcome> RunAsync(
        ProbeContext context,
        ProbeDescriptor descriptor,
        Func<ProbeParameters, SequenceModelView, SequenceEvidence, ProbeOutcome> measure,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ProbeOutcome Work()
        {
            if (string.IsNullOrEmpty(context.DatasetPath))
            {
                return ProbeOutcome.Inconclusive("This probe needs sequence evidence (a JSON Lines file of token-id pairs and statements) and the audit has none.");
            }

            try
            {
                var parameters = new ProbeParameters(context, descriptor);
                SequenceModelView view = SequenceModelView.Create(context.Models.Load(cancellationToken), parameters.Int("contextLength"));
                SequenceEvidence evidence = context.Evidence.Sequence(view.Limits, cancellationToken);
                torch.manual_seed(context.Seed);
                context.Progress.Report(0.02);
                ProbeOutcome outcome = measure(parameters, view, evidence);
                outcome.Details["device"] = context.Device.Name;
                context.Progress.Report(1.0);
                return outcome;
            }
            catch (ProbeNotApplicableException ex)
            {
                return ProbeOutcome.Inconclusive(ex.Message);
            }
        }

        // In a lane the work runs on the lane's thread (one libtorch thread); otherwise off the caller's thread.
        return context.Lane is { } lane ? lane.Run(Work, cancellationToken) : Task.Run(Work, cancellationToken);
    }
}
