using System.Globalization;
using System.Text.Json.Nodes;
using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>
/// Each channel's range on the evidence, and whether the trojan probes read the channels through a
/// <see cref="ChannelRangeView"/> so that each spans the evidence's common range <c>[Low, High]</c> (docs/probes.md,
/// "Channels standardised each their own way").
/// </summary>
/// <remarks>
/// Why a tolerance: the extremes of a finite evidence set vary a little from channel to channel even where every
/// channel has the same valid range (the zoo's colour evidence in [0, 1]: 0.000–0.001 and 0.999), and the verdict's
/// fit was measured with one range. A channel whose range departs from the common one by at most
/// <see cref="Tolerance"/> of the common span at either end is read as before (its map is the identity), so such
/// evidence gives the same statistics as it always did. Per-channel standardisation departs by far more: with
/// torchvision's ImageNet constants red spans −2.12 to 2.25 and blue −1.80 to 2.64, 8 % and 7 % of the common span.
/// A channel that holds (almost) one value is not stretched either: it has no range to keep a trigger within.
/// </remarks>
internal sealed class ChannelRanges
{
    /// <summary>How far, as a share of the common span, a channel's extremes may depart before it is read on its own range.</summary>
    public const double Tolerance = 0.01;

    private ChannelRanges(float low, float high, float[] lows, float[] highs)
    {
        Low = low;
        High = high;
        Lows = lows;
        Highs = highs;
        float span = high - low;
        Scale = new float[lows.Length];
        Offset = new float[lows.Length];
        for (int c = 0; c < lows.Length; c++)
        {
            float own = highs[c] - lows[c];
            bool departs = Math.Max(Math.Abs(lows[c] - low), Math.Abs(highs[c] - high)) > Tolerance * span;
            bool stretchable = own > Tolerance * span;
            // The probes' [low, high] reaches the model as the channel's own [lows[c], highs[c]].
            Scale[c] = departs && stretchable ? own / span : 1f;
            Offset[c] = departs && stretchable ? lows[c] - (low * Scale[c]) : 0f;
        }

        ReadPerChannel = Scale.Any(s => s != 1f) || Offset.Any(o => o != 0f);
    }

    /// <summary>The common range: the smallest and largest value over every channel.</summary>
    public float Low { get; }

    /// <inheritdoc cref="Low"/>
    public float High { get; }

    /// <summary>Each channel's smallest value on the evidence (empty when the evidence is not images of several channels).</summary>
    public IReadOnlyList<float> Lows { get; }

    /// <summary>Each channel's largest value on the evidence.</summary>
    public IReadOnlyList<float> Highs { get; }

    /// <summary>Per channel, the model's input per unit of the probes' input (1 for a channel read as before).</summary>
    public float[] Scale { get; }

    /// <summary>Per channel, the model's input where the probes' input is 0 (0 for a channel read as before).</summary>
    public float[] Offset { get; }

    /// <summary>Whether some channel is read on its own range.</summary>
    public bool ReadPerChannel { get; }

    /// <summary>Names the ranges of one evidence file in the session's cache.</summary>
    public static string SessionKey(string datasetPath) => $"channel-ranges|{datasetPath}";

    /// <summary>
    /// The ranges of <paramref name="dataset"/> as the probes see it (images channels-first). Anything but images of two
    /// or more channels has no per-channel reading.
    /// </summary>
    public static ChannelRanges Of(DatasetArtifact dataset)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        (float low, float high) = dataset.Bounds();
        if (dataset.InputShape.Count != 4 || dataset.InputShape[1] < 2)
        {
            return new ChannelRanges(low, high, [], []);
        }

        int channels = (int)dataset.InputShape[1];
        long plane = dataset.InputShape[2] * dataset.InputShape[3];
        float[] lows = Enumerable.Repeat(float.PositiveInfinity, channels).ToArray();
        float[] highs = Enumerable.Repeat(float.NegativeInfinity, channels).ToArray();
        ReadOnlySpan<float> values = dataset.Inputs;
        for (long row = 0; row < dataset.InputShape[0]; row++)
        {
            for (int c = 0; c < channels; c++)
            {
                foreach (float v in values.Slice((int)(((row * channels) + c) * plane), (int)plane))
                {
                    lows[c] = Math.Min(lows[c], v);
                    highs[c] = Math.Max(highs[c], v);
                }
            }
        }

        return new ChannelRanges(low, high, lows, highs);
    }

    /// <summary>What a finding records when some channel is read on its own range.</summary>
    public JsonObject Details() => new()
    {
        ["readAs"] = new JsonArray((double)Low, (double)High),
        ["evidenceRanges"] = new JsonArray([.. Lows.Zip(Highs, (l, h) => (JsonNode)new JsonArray((double)l, (double)h))]),
        ["perChannel"] = new JsonArray([.. Scale.Zip(Offset, (s, o) => (JsonNode)JsonValue.Create(s != 1f || o != 0f))]),
        ["tolerance"] = Tolerance,
        ["why"] = string.Create(
            CultureInfo.InvariantCulture,
            $"The evidence's channels span different ranges (the model's owner standardised each its own way), so every trojan probe reads the channels marked perChannel on their own range, mapped onto [{Low:G4}, {High:G4}]: a trigger, noise or perturbation then stays within values real images have in each channel."),
    };
}
