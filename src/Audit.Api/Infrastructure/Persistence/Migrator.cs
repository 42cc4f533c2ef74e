using System.Data.Common;
using System.Reflection;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Applies the numbered SQL scripts embedded under <c>Migrations/</c> (<c>0001_name.sql</c>, ...) once each,
/// in order, each in its own transaction, recording them in <c>schema_migrations</c>.
/// </summary>
public sealed class Migrator
{
    private readonly IDatabase _database;
    private readonly TimeProvider _time;
    private readonly ILogger<Migrator> _logger;

    public Migrator(IDatabase database, TimeProvider time, ILogger<Migrator> logger)
    {
        _database = database;
        _time = time;
        _logger = logger;
    }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
            cancellationToken: cancellationToken));
        var applied = (await connection.QueryAsync<long>(new CommandDefinition(
            "SELECT version FROM schema_migrations", cancellationToken: cancellationToken))).ToHashSet();

        foreach ((int version, string name, string sql) in Scripts())
        {
            if (applied.Contains(version))
            {
                continue;
            }

            await using DbTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(new CommandDefinition(sql, transaction: transaction, cancellationToken: cancellationToken));
            await connection.ExecuteAsync(new CommandDefinition(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @at)",
                new { version, name, at = _time.GetUtcNow().ToString("O") },
                transaction,
                cancellationToken: cancellationToken));
            await transaction.CommitAsync(cancellationToken);
            _logger.LogInformation("Applied migration {Version} {Name}", version, name);
        }
    }

    private static IEnumerable<(int Version, string Name, string Sql)> Scripts()
    {
        Assembly assembly = typeof(Migrator).Assembly;
        const string prefix = "Audit.Api.Infrastructure.Persistence.Migrations.";
        foreach (string resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            string file = resource[prefix.Length..];
            int version = int.Parse(file.AsSpan(0, 4), System.Globalization.CultureInfo.InvariantCulture);
            using Stream stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            yield return (version, Path.GetFileNameWithoutExtension(file)[5..], reader.ReadToEnd());
        }
    }
}
