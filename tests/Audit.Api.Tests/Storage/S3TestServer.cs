using Amazon.Runtime;
using Amazon.S3;
using Audit.Api.Infrastructure.Artifacts;

namespace Audit.Api.Tests.Storage;

/// <summary>
/// The local S3-compatible server scripts/test.sh starts (npm's s3rver), named by <c>AUDIT_TEST_S3_URL</c>. Without it
/// the S3 tests skip, saying why; with <c>AUDIT_REQUIRE_S3=1</c> (set by scripts/test.sh) they run and fail instead.
/// </summary>
internal static class S3TestServer
{
    public const string UrlVariable = "AUDIT_TEST_S3_URL";
    public const string RequireVariable = "AUDIT_REQUIRE_S3";

    /// <summary>s3rver's built-in account.</summary>
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";

    public static string? Url => Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } url ? url : null;

    public static string? SkipReason =>
        Url is null && Environment.GetEnvironmentVariable(RequireVariable) != "1"
            ? $"No S3-compatible server: set {UrlVariable} (scripts/test.sh starts s3rver and sets it; {RequireVariable}=1 makes its absence a failure)."
            : null;

    /// <summary>Skips the calling <c>[SkippableFact]</c> test, with the reason, when there is no server and none is required.</summary>
    public static void SkipUnlessAvailable() => Skip.If(SkipReason is not null, SkipReason);

    public static S3StorageOptions Options(string bucket, string? accessKey = null) => new()
    {
        ServiceUrl = Url ?? throw new InvalidOperationException($"{RequireVariable}=1 but {UrlVariable} is not set: no S3 server to test against."),
        Bucket = bucket,
        AccessKey = accessKey ?? AccessKey,
        SecretKey = SecretKey,
        ForcePathStyle = true,
    };

    /// <summary>A new, empty bucket for one test.</summary>
    public static async Task<string> CreateBucketAsync()
    {
        string bucket = "audit-test-" + Guid.NewGuid().ToString("N")[..16];
        using AmazonS3Client client = Client();
        await client.PutBucketAsync(bucket);
        return bucket;
    }

    /// <summary>Every key in the bucket.</summary>
    public static async Task<IReadOnlyList<string>> KeysAsync(string bucket)
    {
        using AmazonS3Client client = Client();
        var keys = new List<string>();
        string? token = null;
        do
        {
            var page = await client.ListObjectsV2Async(new Amazon.S3.Model.ListObjectsV2Request { BucketName = bucket, ContinuationToken = token });
            keys.AddRange((page.S3Objects ?? []).Select(o => o.Key));
            token = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (token is not null);
        return keys;
    }

    private static AmazonS3Client Client() => new(
        new BasicAWSCredentials(AccessKey, SecretKey),
        new AmazonS3Config
        {
            ServiceURL = Options("unused").ServiceUrl,
            ForcePathStyle = true,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });
}
