using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Audit.Api.Features.Transparency;

/// <summary>
/// The log as one file under the data directory: each record is a 4-byte big-endian length, the entry, and the
/// entry's SHA-256. A record is written with one write and flushed to disk before the append returns. A crash during
/// a write leaves a short or mismatching final record, which is cut off the next time the log is opened: that append
/// never happened, and no caller was told it did. A bad record anywhere else is reported as corruption, never skipped.
/// </summary>
public sealed class FileTransparencyLogStore : ITransparencyLogStore, IDisposable
{
    private const int MaxEntryBytes = 1 << 20;

    private readonly string _path;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _count = -1;

    public FileTransparencyLogStore(string dataDirectory)
    {
        var directory = Path.Combine(dataDirectory, "transparency");
        Directory.CreateDirectory(directory);
        _path = Path.Combine(directory, "log.bin");
    }

    public async Task<long> AppendAsync(ReadOnlyMemory<byte> entry, CancellationToken cancellationToken) =>
        (await AppendReservedAsync((_, _) => Task.FromResult((entry.ToArray(), 0)), cancellationToken)).Index;

    public async Task<(long Index, byte[] Entry, T State)> AppendReservedAsync<T>(
        Func<long, CancellationToken, Task<(byte[] Entry, T State)>> build, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_count < 0)
            {
                _count = (await LoadAsync(repair: true, cancellationToken)).Count;
            }

            var (entry, state) = await build(_count, cancellationToken);
            if (entry.Length is 0 or > MaxEntryBytes)
            {
                throw new ArgumentException($"A log entry must hold 1 to {MaxEntryBytes} bytes.", nameof(build));
            }

            var record = new byte[4 + entry.Length + 32];
            BinaryPrimitives.WriteInt32BigEndian(record, entry.Length);
            entry.CopyTo(record.AsSpan(4));
            SHA256.HashData(entry, record.AsSpan(4 + entry.Length));

            await using var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read);
            await stream.WriteAsync(record, CancellationToken.None);
            stream.Flush(flushToDisk: true);
            return (_count++, entry, state);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<byte[]>> ReadFromAsync(long start, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // This store has one writer (this instance): nothing new since the last read or append means nothing to read.
            if (_count >= 0 && start >= _count)
            {
                return [];
            }

            var entries = await LoadAsync(repair: true, cancellationToken);
            _count = entries.Count;
            return entries.Skip((int)Math.Min(start, entries.Count)).ToList();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<IReadOnlyList<byte[]>> ReadAllAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var entries = await LoadAsync(repair: true, cancellationToken);
            _count = entries.Count;
            return entries;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private async Task<List<byte[]>> LoadAsync(bool repair, CancellationToken cancellationToken)
    {
        var entries = new List<byte[]>();
        if (!File.Exists(_path))
        {
            return entries;
        }

        var bytes = await File.ReadAllBytesAsync(_path, cancellationToken);
        var offset = 0;
        while (offset < bytes.Length)
        {
            var good = TryReadRecord(bytes, offset, out var entry, out var next);
            if (!good)
            {
                if (repair && IsTornTail(bytes, offset))
                {
                    using var stream = new FileStream(_path, FileMode.Open, FileAccess.Write, FileShare.Read);
                    stream.SetLength(offset);
                    stream.Flush(flushToDisk: true);
                    break;
                }

                throw new TransparencyLogCorruptException($"The transparency log is damaged at byte {offset}.");
            }

            entries.Add(entry!);
            offset = next;
        }

        return entries;
    }

    private static bool TryReadRecord(byte[] bytes, int offset, out byte[]? entry, out int next)
    {
        entry = null;
        next = offset;
        if (bytes.Length - offset < 4)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset));
        if (length is <= 0 or > MaxEntryBytes || bytes.Length - offset - 4 < length + 32)
        {
            return false;
        }

        var body = bytes.AsSpan(offset + 4, length);
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(bytes.AsSpan(offset + 4 + length, 32)))
        {
            return false;
        }

        entry = body.ToArray();
        next = offset + 4 + length + 32;
        return true;
    }

    /// <summary>A bad record is a torn append only if it is the last thing in the file.</summary>
    private static bool IsTornTail(byte[] bytes, int offset)
    {
        if (bytes.Length - offset < 4)
        {
            return true;
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(offset));
        return length is > 0 and <= MaxEntryBytes && offset + 4 + length + 32 >= bytes.Length;
    }
}
