using Amazon.S3;
using Amazon.S3.Model;

namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// A read-only, seekable view of an S3 object of known length: reading opens a ranged GET from the current position
/// and streams it; seeking drops that response and the next read opens a new range. Memory stays one buffer whatever
/// the object's size, and HTTP range requests to the service map onto ranges of the object.
/// </summary>
internal sealed class S3RangeReadStream(IAmazonS3 client, string bucket, string key, long length) : Stream
{
    private GetObjectResponse? _response;
    private long _position;

    public override bool CanRead => true;

    public override bool CanSeek => true;

    public override bool CanWrite => false;

    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty || _position >= length)
        {
            return 0;
        }

        if (_response is null)
        {
            var request = new GetObjectRequest { BucketName = bucket, Key = key, ByteRange = new ByteRange(_position, length - 1) };
            try
            {
                _response = await client.GetObjectAsync(request, cancellationToken);
            }
            catch (AmazonS3Exception ex)
            {
                throw new BlobStorageException($"The S3 store refused to read '{key}': {ex.ErrorCode} ({(int)ex.StatusCode}).", ex);
            }
        }

        int read = await _response.ResponseStream.ReadAsync(buffer, cancellationToken);
        if (read == 0)
        {
            throw new IOException($"The S3 object '{key}' ended at {_position} bytes; {length} were expected.");
        }

        _position += read;
        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) =>
        ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => length + offset,
        };
        ArgumentOutOfRangeException.ThrowIfNegative(target, nameof(offset));
        if (target != _position)
        {
            _response?.Dispose();
            _response = null;
            _position = target;
        }

        return _position;
    }

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _response?.Dispose();
            _response = null;
        }

        base.Dispose(disposing);
    }
}
