using System.Runtime.InteropServices;
using SkiaSharp;

namespace Audit.Evaluators.Probes.Trojans;

/// <summary>Encodes evidence images (trigger masks and patterns) as PNG with SkiaSharp.</summary>
internal static class EvidencePng
{
    /// <summary>
    /// Encodes row-major pixels; <paramref name="channels"/> is 1 (grayscale) or 3 (RGB, interleaved), values already
    /// 0..255. Lossless: the PNG holds exactly these bytes.
    /// </summary>
    public static byte[] Encode(byte[] pixels, int width, int height, int channels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (channels is not (1 or 3) || width <= 0 || height <= 0 || pixels.Length != width * height * channels)
        {
            throw new ArgumentException("Pixels must be width × height × (1 or 3) bytes.", nameof(pixels));
        }

        // Skia has no 24-bit layout: RGB goes in as opaque RGBX (the X byte is ignored and not written).
        byte[] packed = channels == 1 ? pixels : ToRgbx(pixels);
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgb888x, SKAlphaType.Opaque);
        GCHandle pin = GCHandle.Alloc(packed, GCHandleType.Pinned);
        try
        {
            using var pixmap = new SKPixmap(info, pin.AddrOfPinnedObject(), info.RowBytes);
            using SKData data = pixmap.Encode(SKEncodedImageFormat.Png, 100)
                ?? throw new InvalidOperationException("SkiaSharp could not encode the image as PNG.");
            return data.ToArray();
        }
        finally
        {
            pin.Free();
        }
    }

    /// <summary>Scales values from [<paramref name="low"/>, <paramref name="high"/>] to bytes.</summary>
    public static byte[] ToBytes(ReadOnlySpan<float> values, float low, float high)
    {
        byte[] result = new byte[values.Length];
        float range = Math.Max(high - low, 1e-12f);
        for (int i = 0; i < values.Length; i++)
        {
            result[i] = (byte)Math.Clamp(MathF.Round((values[i] - low) / range * 255f), 0f, 255f);
        }

        return result;
    }

    private static byte[] ToRgbx(byte[] rgb)
    {
        byte[] rgbx = new byte[rgb.Length / 3 * 4];
        for (int i = 0, j = 0; i < rgb.Length; i += 3, j += 4)
        {
            rgbx[j] = rgb[i];
            rgbx[j + 1] = rgb[i + 1];
            rgbx[j + 2] = rgb[i + 2];
            rgbx[j + 3] = 255;
        }

        return rgbx;
    }
}
