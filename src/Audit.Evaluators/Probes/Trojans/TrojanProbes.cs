namespace Audit.Evaluators.Probes.Trojans;

/// <summary>The trojan probes, for DI registration (each is stateless between runs; singletons are fine).</summary>
public static class TrojanProbes
{
    /// <summary>Neural Cleanse, STRIP, activation clustering and spectral signatures, in the order an audit should run them
    /// (the first computes the recovered trigger the others reuse), then the adversarial sink test, which needs no trigger,
    /// and the source-specific scan over (source, target) pairs, which runs its own search.</summary>
    public static IReadOnlyList<IProbe> All() =>
        [new NeuralCleanseProbe(), new StripProbe(), new ActivationClusteringProbe(), new SpectralSignatureProbe(), new AdversarialSinkProbe(), new LabelSpecificScanProbe()];
}
