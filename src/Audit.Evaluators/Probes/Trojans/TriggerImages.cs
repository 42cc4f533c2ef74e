namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Renders a recovered trigger as PNG evidence: mask, pattern, and mask ⊙ pattern.</summary>
internal static class TriggerImages
{
    /// <summary>PNG files for class <paramref name="target"/>'s trigger; none for inputs that are not images.</summary>
    public static IReadOnlyList<EvidenceFile> For(ReverseEngineeredTriggers triggers, int target)
    {
        long[] shape = triggers.PatternShape;
        if (shape.Length != 3 || shape[0] is not (1 or 3) || shape[1] > 4096 || shape[2] > 4096)
        {
            return [];
        }

        int channels = (int)shape[0], height = (int)shape[1], width = (int)shape[2];
        float[] mask = triggers.Masks[target];
        float[] pattern = triggers.Patterns[target];

        // PNG wants interleaved channels; the tensors are channel-first.
        float[] interleaved = new float[pattern.Length];
        float[] stamped = new float[pattern.Length];
        for (int c = 0; c < channels; c++)
        {
            for (int i = 0; i < height * width; i++)
            {
                float value = pattern[c * height * width + i];
                interleaved[i * channels + c] = value;
                stamped[i * channels + c] = triggers.Low + mask[i] * (value - triggers.Low);
            }
        }

        return
        [
            new EvidenceFile($"trigger-mask-class-{target}.png", "image/png", $"Recovered trigger mask for class {target} (white = stamped).",
                EvidencePng.Encode(EvidencePng.ToBytes(mask, 0, 1), width, height, 1)),
            new EvidenceFile($"trigger-pattern-class-{target}.png", "image/png", $"Recovered trigger pattern for class {target}.",
                EvidencePng.Encode(EvidencePng.ToBytes(interleaved, triggers.Low, triggers.High), width, height, channels)),
            new EvidenceFile($"trigger-class-{target}.png", "image/png", $"Mask ⊙ pattern: what the recovered trigger adds for class {target}.",
                EvidencePng.Encode(EvidencePng.ToBytes(stamped, triggers.Low, triggers.High), width, height, channels)),
        ];
    }
}
