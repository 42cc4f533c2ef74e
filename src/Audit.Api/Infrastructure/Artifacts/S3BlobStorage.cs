using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Audit.Api.Infrastructure.Storage;

namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>
/// Blobs in an S3-compatible bucket, for services whose API and workers run on several machines. Uploads are received
/// and hashed in a local scratch folder first and sent under their key in one PUT, which S3 applies whole: a content
/// key never names part of an object. Reads are ranged GETs, streamed, never whole objects in memory.
/// </summary>
public sealed class S3BlobStorage : IBlobStorage, IDisposable
{
    private const string OwnerFile = ".owner";

    private readonly AmazonS3Client _client;
    private readonly string _bucket;
    private readonly FileStream _owner;

    public S3BlobStorage(S3StorageOptions options, string scratchRoot)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ServiceUrl) || string.IsNullOrWhiteSpace(options.Bucket))
        {
            throw new InvalidOperationException("Audit:Storage:Provider is S3: set Audit:Storage:S3:ServiceUrl and Audit:Storage:S3:Bucket.");
        }

        _bucket = options.Bucket;
        Location = $"{options.ServiceUrl.TrimEnd('/')}/{options.Bucket}";
        var config = new AmazonS3Config
        {
            ServiceURL = options.ServiceUrl,
            ForcePathStyle = options.ForcePathStyle,
            AuthenticationRegion = options.Region,
            // Checksums only where the API requires them: S3-compatible servers (MinIO, Ceph, s3rver) differ in the
            // newer flexible checksums. Integrity does not rest on them: SigV4 signs the payload's SHA-256, which the
            // server checks, and every reader verifies size and hash against what we computed at upload.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 3,
        };
        AWSCredentials credentials = string.IsNullOrEmpty(options.AccessKey)
            ? new AnonymousAWSCredentials()
            : new BasicAWSCredentials(options.AccessKey, options.SecretKey ?? "");
        _client = new AmazonS3Client(credentials, config);

        // Several processes may share one machine (and one scratch root): each works in its own subfolder, held by an
        // exclusive lock on its owner file. A folder whose lock can be taken belongs to a process that died (kill -9
        // releases the lock), so its half-received uploads go.
        OwnerOnly.CreateDirectory(scratchRoot);
        foreach (string stale in Directory.GetDirectories(scratchRoot))
        {
            RemoveIfAbandoned(stale);
        }

        ScratchDirectory = Path.Combine(scratchRoot, Guid.NewGuid().ToString("N"));
        OwnerOnly.CreateDirectory(ScratchDirectory);
        _owner = new FileStream(Path.Combine(ScratchDirectory, OwnerFile), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
    }

    public string Location { get; }

    public string ScratchDirectory { get; }

    public async Task<bool> PutFileAsync(string key, string localPath, BlobChecksum checksum, bool replace, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(checksum);
        if (!replace && await SizeAsync(key, cancellationToken) is not null)
        {
            return false;
        }

        await using var file = new FileStream(localPath, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, useAsync: true);
        if (file.Length != checksum.SizeBytes)
        {
            throw new InvalidOperationException($"The staged file for '{key}' changed size before it was stored.");
        }

        // One PUT: S3 makes the object visible only once all of it arrived. The SHA-256 we computed is sent along;
        // a server that checks it (AWS S3) refuses bytes that do not match.
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = key,
            InputStream = file,
            AutoCloseStream = false,
            // Plain signed body: aws-chunked framing is not understood by every S3-compatible server (s3rver stores it verbatim).
            UseChunkEncoding = false,
            ChecksumSHA256 = Convert.ToBase64String(Convert.FromHexString(checksum.Sha256)),
        };
        await Call("store", key, () => _client.PutObjectAsync(request, cancellationToken));
        return false;
    }

    public async Task PutBytesAsync(string key, byte[] content, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content, writable: false);
        var request = new PutObjectRequest
        {
            BucketName = _bucket,
            Key = key,
            InputStream = stream,
            AutoCloseStream = false,
            // Plain signed body: aws-chunked framing is not understood by every S3-compatible server (s3rver stores it verbatim).
            UseChunkEncoding = false,
            ChecksumSHA256 = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(content)),
        };
        await Call("store", key, () => _client.PutObjectAsync(request, cancellationToken));
    }

    public async Task<long?> SizeAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            GetObjectMetadataResponse head = await _client.GetObjectMetadataAsync(_bucket, key, cancellationToken);
            return head.ContentLength;
        }
        catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound && ex.ErrorCode is not "NoSuchBucket")
        {
            return null;
        }
        catch (AmazonServiceException ex)
        {
            throw Failure("read", key, ex);
        }
    }

    public async Task<Stream?> OpenReadAsync(string key, CancellationToken cancellationToken) =>
        await SizeAsync(key, cancellationToken) is { } length ? new S3RangeReadStream(_client, _bucket, key, length) : null;

    public Task DeleteAsync(string key, CancellationToken cancellationToken) =>
        Call("delete", key, () => _client.DeleteObjectAsync(_bucket, key, cancellationToken));

    public string? LocalPathOf(string key) => null;

    public async Task<bool> IsWritableAsync(CancellationToken cancellationToken)
    {
        string probe = "health/.ready-" + Guid.NewGuid().ToString("N");
        try
        {
            await PutBytesAsync(probe, [1], cancellationToken);
            await DeleteAsync(probe, cancellationToken);
            return true;
        }
        catch (BlobStorageException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        _client.Dispose();
        _owner.Dispose();
        try
        {
            Directory.Delete(ScratchDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still open elsewhere in this process; the next start removes the folder.
        }
    }

    private async Task Call<T>(string operation, string key, Func<Task<T>> call)
    {
        try
        {
            _ = await call();
        }
        catch (AmazonServiceException ex)
        {
            throw Failure(operation, key, ex);
        }
    }

    private BlobStorageException Failure(string operation, string key, AmazonServiceException ex)
    {
        string hint = ex.StatusCode is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
            || ex.ErrorCode is "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied"
            ? " Check Audit:Storage:S3:AccessKey and SecretKey."
            : ex.ErrorCode is "NoSuchBucket" ? " Check Audit:Storage:S3:Bucket (the bucket must exist)." : "";
        string code = string.IsNullOrEmpty(ex.ErrorCode) ? ex.GetType().Name : ex.ErrorCode;
        return new BlobStorageException(
            $"The S3 store {Location} refused to {operation} '{key}': {code} ({(int)ex.StatusCode}).{hint}", ex);
    }

    private static void RemoveIfAbandoned(string folder)
    {
        try
        {
            string owner = Path.Combine(folder, OwnerFile);
            if (File.Exists(owner))
            {
                using var probe = new FileStream(owner, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            }

            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // Its owner is alive (the lock is held), or it is going away by itself.
        }
        catch (UnauthorizedAccessException)
        {
            // Not ours to remove.
        }
    }
}
