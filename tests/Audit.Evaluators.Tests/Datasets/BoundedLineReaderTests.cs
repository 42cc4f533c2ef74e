using Audit.Evaluators.Datasets;

namespace Audit.Evaluators.Tests.Datasets;

public sealed class BoundedLineReaderTests
{
    [Fact]
    public void ReadsLinesWithEveryEnding()
    {
        using var reader = new BoundedLineReader(new StringReader("a\nbb\r\nccc\rdddd"), maxLineChars: 4);

        Assert.Equal(["a", "bb", "ccc", "dddd"], [reader.ReadLine()!, reader.ReadLine()!, reader.ReadLine()!, reader.ReadLine()!]);
        Assert.Null(reader.ReadLine());
    }

    [Fact]
    public void LineOverTheLimit_IsRejectedWithItsNumber()
    {
        using var reader = new BoundedLineReader(new StringReader("ok\n" + new string('x', 11) + "\n"), maxLineChars: 10);
        Assert.Equal("ok", reader.ReadLine());

        EvidenceRejectedException rejected = Assert.Throws<EvidenceRejectedException>(() => reader.ReadLine());

        Assert.Contains("2", rejected.Message, StringComparison.Ordinal);
    }
}
