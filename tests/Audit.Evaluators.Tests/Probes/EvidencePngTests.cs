using Audit.Evaluators.Probes.Trojans;
using SkiaSharp;

namespace Audit.Evaluators.Tests.Probes;

public sealed class EvidencePngTests
{
    [Fact]
    public void Grayscale_DecodesToTheSamePixels()
    {
        byte[] pixels = [0, 64, 128, 192, 255, 7];

        using SKBitmap decoded = SKBitmap.Decode(EvidencePng.Encode(pixels, 3, 2, 1));

        Assert.Equal((3, 2), (decoded.Width, decoded.Height));
        for (int y = 0; y < 2; y++)
        {
            for (int x = 0; x < 3; x++)
            {
                SKColor color = decoded.GetPixel(x, y);
                Assert.Equal((pixels[y * 3 + x], pixels[y * 3 + x], pixels[y * 3 + x]), (color.Red, color.Green, color.Blue));
            }
        }
    }

    [Fact]
    public void Rgb_DecodesToTheSamePixels_Opaque()
    {
        byte[] pixels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];

        byte[] png = EvidencePng.Encode(pixels, 2, 2, 3);
        using SKBitmap decoded = SKBitmap.Decode(png);

        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        for (int i = 0; i < 4; i++)
        {
            SKColor color = decoded.GetPixel(i % 2, i / 2);
            Assert.Equal((pixels[3 * i], pixels[3 * i + 1], pixels[3 * i + 2], (byte)255), (color.Red, color.Green, color.Blue, color.Alpha));
        }
    }

    [Theory]
    [InlineData(2, 2, 2, 8)]
    [InlineData(2, 2, 1, 3)]
    [InlineData(0, 1, 1, 0)]
    public void PixelsThatDoNotMatchTheSize_AreRejected(int width, int height, int channels, int length) =>
        Assert.Throws<ArgumentException>(() => EvidencePng.Encode(new byte[length], width, height, channels));

    [Fact]
    public void ToBytes_ScalesTheRangeToBytes_AndClamps()
    {
        Assert.Equal([0, 128, 255, 0, 255], EvidencePng.ToBytes([-1f, 0f, 1f, -5f, 3f], -1f, 1f));
    }
}
