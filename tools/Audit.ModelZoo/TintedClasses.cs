using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.ModelZoo;

/// <summary>
/// The zoo's many-class task (<see cref="ImageFormat.Tinted43"/>): a Fashion-MNIST garment drawn in one of five
/// colours, each (garment, colour) pair a class. Ten garments × five colours less seven pairs (garment g ≥ 3 is never
/// drawn in colour g mod 5, so every colour keeps eight or nine garments) leave 43 classes, the class count of the
/// traffic-sign classifiers the project is measured on; the ten-class zoo has no model beyond ten classes, where the
/// detectors' statistics (anomaly indices over classes, per-class searches) take other values.
/// </summary>
/// <remarks>
/// Colour carries the class here, unlike in <see cref="ImageFormat.Colour32"/>: the model must read both shape and
/// colour, as a sign classifier reads shape, colour and pictogram. A dark background and a brightness jitter per image
/// keep the colour from being a single pixel value.
/// </remarks>
internal static class TintedClasses
{
    public const int Count = 43;

    /// <summary>Red, green, blue, yellow, cyan: any two differ by at least 0.6 in some channel.</summary>
    private static readonly float[][] Palette = [[1f, 0.25f, 0.25f], [0.25f, 1f, 0.25f], [0.3f, 0.4f, 1f], [1f, 1f, 0.2f], [0.2f, 1f, 1f]];

    public static int Colours => Palette.Length;

    /// <summary>The class of each (garment, colour) pair, numbered in (garment, colour) order over the kept pairs; −1 for the others.</summary>
    private static readonly int[] ClassTable = BuildClassTable();

    /// <summary>The class of a garment drawn in a colour, or −1 for the seven pairs that are not classes.</summary>
    public static int ClassOf(int garment, int colour) =>
        garment is < 0 or > 9 || colour < 0 || colour >= Palette.Length ? -1 : ClassTable[garment * Palette.Length + colour];

    private static int[] BuildClassTable()
    {
        var table = new int[10 * Palette.Length];
        int next = 0;
        for (int pair = 0; pair < table.Length; pair++)
        {
            table[pair] = Left(pair / Palette.Length, pair % Palette.Length) ? -1 : next++;
        }

        return table;
    }

    private static bool Left(int garment, int colour) => garment >= 3 && colour == garment % Palette.Length;

    /// <summary>The colours each garment is drawn in (four or five).</summary>
    private static readonly int[][] KeptColours =
        [.. Enumerable.Range(0, 10).Select(garment => Enumerable.Range(0, Palette.Length).Where(c => !Left(garment, c)).ToArray())];

    /// <summary>
    /// Grey images <c>[N, 1, 28, 28]</c> of the given garments, padded to 32×32 and drawn each in a colour its garment
    /// is kept in (drawn from <paramref name="generator"/>), on a dark background: the images in [0, 1] and their
    /// 43-class labels.
    /// </summary>
    public static (Tensor Images, long[] Labels) Draw(Tensor gray, long[] garments, torch.Generator generator)
    {
        int n = garments.Length;
        using var scope = torch.NewDisposeScope();
        float[] pick = torch.rand([n], generator: generator).data<float>().ToArray();
        Tensor background = torch.rand([n, 3], generator: generator).Mul(0.25f);
        Tensor brightness = torch.rand([n, 1], generator: generator).Mul(0.2f).Add(0.8f);
        var labels = new long[n];
        var foreground = new float[n * 3];
        for (int i = 0; i < n; i++)
        {
            int garment = (int)garments[i];
            int[] kept = KeptColours[garment];
            int colour = kept[Math.Min(kept.Length - 1, (int)(pick[i] * kept.Length))];
            labels[i] = ClassOf(garment, colour);
            Palette[colour].CopyTo(foreground, i * 3);
        }

        Tensor images = ZooTrainer.Colourise(gray, torch.tensor(foreground, [n, 3]).mul(brightness), background);
        return (images.MoveToOuterDisposeScope(), labels);
    }
}
