using System.Data.Common;
using Audit.Api.Infrastructure.Persistence;
using Dapper;
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

    private readonly IDatabase _database;
    private readonly ConfiguredKeys _configured;
    private readonly AuditOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<DevelopmentKeys> _logger;

    public DevelopmentKeys(IDatabase database, ConfiguredKeys configured, IOptions<AuditOptions> options, TimeProvider time, ILogger<DevelopmentKeys> logger)
    {
        _database = database;
        _configured = configured;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    public string Directory => Path.Combine(_options.DataPath, "dev-keys");

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        string now = _time.GetUtcNow().ToString("O");

        // Tenants named by configured keys exist in the database too, so admins can list them.
        foreach (string tenant in _configured.Tenants)
        {
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO tenants (id, name, created_at) SELECT @tenant, @tenant, @now WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = @tenant)",
                new { tenant, now }, cancellationToken: cancellationToken));
        }

        long keys = await connection.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM api_keys", cancellationToken: cancellationToken));
        if (!_options.CreateDevelopmentKeys || keys > 0 || _configured.Count > 0)
        {
            return;
        }

        System.IO.Directory.CreateDirectory(Directory);
        await connection.ExecuteAsync(new CommandDefinition(
            "INSERT INTO tenants (id, name, created_at) SELECT @tenant, 'Default tenant', @now WHERE NOT EXISTS (SELECT 1 FROM tenants WHERE id = @tenant)",
            new { tenant = DefaultTenant, now }, cancellationToken: cancellationToken));
        foreach (string role in new[] { Roles.Compliance, Roles.Auditor, Roles.Regulator, Roles.Admin })
        {
            string key = ApiKeyHasher.NewKey();
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO api_keys (id, tenant_id, role, name, key_hash, created_at) VALUES (@id, @tenant, @role, @name, @hash, @now)",
                new
                {
                    id = "key_dev_" + role,
                    tenant = Roles.IsTenantRole(role) ? DefaultTenant : null,
                    role,
                    name = $"development {role} key",
                    hash = ApiKeyHasher.Hash(key),
                    now,
                },
                cancellationToken: cancellationToken));
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
