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

    [Fact]
    public void OneTwentyMegabyteLine_IsRefusedWithinBoundedAllocation()
    {
        using var reader = new BoundedLineReader(new StreamReader(new RepeatingStream((byte)'7', 20 * 1024 * 1024)), maxLineChars: 1024 * 1024);
        long before = GC.GetAllocatedBytesForCurrentThread();

        Assert.Throws<EvidenceRejectedException>(() => reader.ReadLine());

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16L * 1024 * 1024, $"allocated {allocated} bytes for a 20 MB line with a 1 Mi-character limit");
    }

    /// <summary>One byte repeated, produced on demand so the test itself holds nothing of the line.</summary>
    private sealed class RepeatingStream(byte value, long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            buffer.AsSpan(offset, n).Fill(value);
            _position += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
