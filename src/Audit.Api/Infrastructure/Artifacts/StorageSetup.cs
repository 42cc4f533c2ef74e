namespace Audit.Api.Infrastructure.Artifacts;

/// <summary>Registers the blob storage <c>Audit:Storage:Provider</c> names.</summary>
public static class StorageSetup
{
    public static IServiceCollection AddBlobStorage(this IServiceCollection services, AuditOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        StorageOptions storage = options.Storage;
        if (string.Equals(storage.Provider, StorageOptions.FileSystemProvider, StringComparison.OrdinalIgnoreCase))
        {
            services.AddSingleton<IBlobStorage>(_ => new FileSystemBlobStorage(options.DataPath));
        }
        else if (string.Equals(storage.Provider, StorageOptions.S3Provider, StringComparison.OrdinalIgnoreCase))
        {
            string scratch = Path.GetFullPath(storage.ScratchDirectory ?? Path.Combine(options.DataPath, "scratch"));
            services.AddSingleton<IBlobStorage>(_ => new S3BlobStorage(storage.S3, scratch));
        }
        else
        {
            throw new InvalidOperationException($"Audit:Storage:Provider must be '{StorageOptions.FileSystemProvider}' or '{StorageOptions.S3Provider}', not '{storage.Provider}'.");
        }

        return services;
    }
}
