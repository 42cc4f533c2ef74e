using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Penultimate representations of the audit's clean inputs plus a share of them stamped with the trigger recovered
/// for the suspected class, grouped by the model's predicted class. The owner's dataset is clean, so the
/// representation-based detectors (activation clustering, spectral signatures), designed for poisoned training sets,
/// only see a backdoor if trigger-carrying inputs are in the pool: the recovered trigger supplies them.
/// </summary>
internal sealed class RepresentationPool : IDisposable
{
    private RepresentationPool(Tensor activations, long[] predicted, bool[] stamped, TriggerScan scan, string layer)
    {
        Scan = scan;
        Activations = activations;
        Predicted = predicted;
        Stamped = stamped;
        Layer = layer;
    }

    /// <summary><c>[M, D]</c> on the model's device.</summary>
    public Tensor Activations { get; }

    /// <summary>Predicted class per pooled input.</summary>
    public long[] Predicted { get; }

    /// <summary>Whether each pooled input carries the recovered trigger.</summary>
    public bool[] Stamped { get; }

    /// <summary>The audit's trigger scan, whose suspected class's trigger is stamped.</summary>
    public TriggerScan Scan { get; }

    public int SuspectedClass => Scan.SuspectedClass;

    public string Layer { get; }

    public int StampedCount => Stamped.Count(s => s);

    /// <summary>
    /// The pool a representation probe works on: its <c>layer</c>, the audit's shared trigger scan (the first 80% of
    /// the probe's progress) and <c>stampedShare</c> of the dataset stamped with the suspected class's trigger. The
    /// session owns the pool; callers do not dispose it.
    /// </summary>
    public static RepresentationPool Build(ProbeParameters parameters, ProbeContext context, ClassifierEvidence evidence, CancellationToken cancellationToken)
    {
        string layer;
        using (evidence.Timings?.Stage("pool.resolve-layer"))
        {
            layer = evidence.ResolveLayer(parameters.String("layer"));
        }

        TriggerScan scan = TrojanProbeParameters.RunScan(parameters, evidence, context, new Progress<double>(p => context.Progress.Report(0.8 * p)), cancellationToken);
        double share = parameters.Double("stampedShare");
        // One pool per scan, layer, share and seed for the audit: activation clustering and spectral signatures (and
        // trojan-likelihood's runs of them) read the same activations.
        return evidence.Session.GetOrCreate(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"pool|{scan.Key}|{layer}|{share:R}|{context.Seed}"),
            () => Build(evidence, scan, share, layer, context.Seed, cancellationToken));
    }

    private static RepresentationPool Build(
        ClassifierEvidence evidence,
        TriggerScan scan,
        double stampedShare,
        string layer,
        int seed,
        CancellationToken cancellationToken)
    {
        using IDisposable? stage = evidence.Timings?.Stage("pool.build");
        using var scope = torch.NewDisposeScope();
        int suspected = scan.SuspectedClass;
        Tensor pool = evidence.Inputs;
        int stampedCount = (int)Math.Round(stampedShare * evidence.Count);
        if (stampedCount > 0)
        {
            using var generator = new torch.Generator((ulong)seed + 101);
            Tensor chosen = torch.randperm(evidence.Count, generator: generator)[..stampedCount].to(evidence.Device);
            pool = torch.cat([evidence.Inputs, scan.Audited.Stamp(evidence.Inputs.index_select(0, chosen), suspected)], 0);
        }

        Tensor activations = evidence.Activations(pool, layer, cancellationToken);
        long[] predicted = evidence.Predict(pool, cancellationToken).cpu().data<long>().ToArray();
        bool[] stamped = Enumerable.Range(0, predicted.Length).Select(i => i >= evidence.Count).ToArray();
        return new RepresentationPool(activations.MoveToOuterDisposeScope(), predicted, stamped, scan, layer);
    }

    /// <summary>Indices of the pooled inputs predicted as <paramref name="label"/>.</summary>
    public long[] IndicesOf(int label) => Enumerable.Range(0, Predicted.Length).Where(i => Predicted[i] == label).Select(i => (long)i).ToArray();

    public void Dispose() => Activations.Dispose();
}
