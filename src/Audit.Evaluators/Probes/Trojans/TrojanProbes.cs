namespace Audit.Evaluators.Probes.Trojans;

/// <summary>The trojan probes, for DI registration (each is stateless between runs; singletons are fine).</summary>
public static class TrojanProbes
{
    /// <summary>Neural Cleanse, STRIP, activation clustering and spectral signatures, in the order an audit should run them
    /// (the first computes the recovered trigger the others reuse), then the adversarial sink test, which needs no trigger,
    /// the source-specific scan over (source, target) pairs, which runs its own search, and two that read the model
    /// alone: the head's weight signature and saliency persistence, the two input-wide trigger searches (blend, warp), and
    /// Neural Cleanse's search against the distilled reference, and the source-specific search over pre-screened pairs.</summary>
    public static IReadOnlyList<IProbe> All() =>
        [new NeuralCleanseProbe(), new StripProbe(), new ActivationClusteringProbe(), new SpectralSignatureProbe(), new AdversarialSinkProbe(), new LabelSpecificScanProbe(), new WeightSignatureProbe(), new SaliencyPersistenceProbe(), new BlendInversionProbe(), new WarpInversionProbe(), new ContrastivePatchInversionProbe(), new PrescreenedPairSearchProbe()];
}
