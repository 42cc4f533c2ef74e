namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>The <c>Audit:Storage</c> section: where artifacts, evidence and report PDFs are kept.</summary>
public sealed class StorageOptions
{
    public const string FileSystemProvider = "FileSystem";
    public const string S3Provider = "S3";

    /// <summary><c>FileSystem</c> (default: under the data directory) or <c>S3</c> (an S3-compatible bucket).</summary>
    public string Provider { get; set; } = FileSystemProvider;

    /// <summary>
    /// Local folder for uploads being received and for the copies evaluators read, when the provider is S3. Unset:
    /// <c>{DataDirectory}/scratch</c>. Each process works in its own subfolder; files there live only while in use.
    /// </summary>
    public string? ScratchDirectory { get; set; }

    public S3StorageOptions S3 { get; set; } = new();
}

/// <summary>The <c>Audit:Storage:S3</c> section.</summary>
public sealed class S3StorageOptions
{
    /// <summary>The endpoint, e.g. <c>https://s3.eu-central-1.amazonaws.com</c> or a MinIO/Ceph address. Required.</summary>
    public string? ServiceUrl { get; set; }

    /// <summary>The bucket; it must exist. Required.</summary>
    public string? Bucket { get; set; }

    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }

    /// <summary>Signing region; most S3-compatible servers accept the default.</summary>
    public string Region { get; set; } = "us-east-1";

    /// <summary>Path-style addressing (<c>host/bucket/key</c>), which most self-hosted servers need. Default on.</summary>
    public bool ForcePathStyle { get; set; } = true;
}
