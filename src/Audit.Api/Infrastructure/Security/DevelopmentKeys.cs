using Audit.Api.Infrastructure.Persistence;
using Microsoft.Extensions.Options;

namespace Audit.Api.Infrastructure.Security;

/// <summary>
/// First start of the embedded default: with no key anywhere, create tenant <c>default</c> and one key per role,
/// and write the keys (mode 0600) under <c>DataDirectory/dev-keys/ROLE.key</c> for the README's walk-through.
/// Only hashes go into the database.
/// </summary>
public sealed class DevelopmentKeys
{
    public const string DefaultTenant = "default";

    private readonly ApiKeyRepository _keys;
    private readonly TenantRepository _tenants;
    private readonly ConfiguredKeys _configured;
    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DevelopmentKeys> _logger;

    public DevelopmentKeys(
        ApiKeyRepository keys,
        TenantRepository tenants,
        ConfiguredKeys configured,
        IOptions<AuditOptions> options, TimeProvider time, ILogger<DevelopmentKeys> logger)
    {
        _keys = keys;
        _tenants = tenants;
        _configured = configured;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    public string Directory => Path.Combine(_options.DataPath, "dev-keys");

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        string now = _time.GetUtcNow().ToString("O");

        // Tenants named by configured keys exist in the database too, so admins can list them.
        foreach (string tenant in _configured.Tenants)
        {
            await _tenants.TryAddAsync(new TenantRow(tenant, tenant, now), cancellationToken);
        }

        long keys = await _keys.CountAsync(cancellationToken);
        if (!_options.CreateDevelopmentKeys || keys > 0 || _configured.Count > 0)
        {
            return;
        }

        System.IO.Directory.CreateDirectory(Directory);
        await _tenants.TryAddAsync(new TenantRow(DefaultTenant, "Default tenant", now), cancellationToken);
        foreach (string role in new[] { Roles.Compliance, Roles.Auditor, Roles.Regulator, Roles.Admin })
        {
            string key = ApiKeyHasher.NewKey();
            await _keys.InsertAsync(
                new ApiKeyRow("key_dev_" + role, Roles.IsTenantRole(role) ? DefaultTenant : null, role, $"development {role} key", now, null),
                ApiKeyHasher.Hash(key),
                cancellationToken);
            string path = Path.Combine(Directory, role + ".key");
            await File.WriteAllTextAsync(path, key, cancellationToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }
        }

        _logger.LogWarning(
            "Created development tenant '{Tenant}' and one API key per role in {Directory} (compliance.key, auditor.key, regulator.key, admin.key). Set Audit:CreateDevelopmentKeys=false in production.",
            DefaultTenant, Directory);
    }
}
