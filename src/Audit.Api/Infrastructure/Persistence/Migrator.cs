using System.Data.Common;
using System.Reflection;
using Dapper;
using DbUp;
using DbUp.Builder;
using DbUp.Engine;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Brings the database up to date with DbUp: the numbered scripts embedded under <c>Migrations/</c>
/// (<c>0001_name.sql</c>, ...) run once each, in name order, each in its own transaction, on SQLite or PostgreSQL
/// alike, journalled in <c>schema_versions</c>. A SQLite file made before DbUp (journal <c>schema_migrations</c>, by
/// version number) has its applied versions copied into DbUp's journal first, so they are not run again. Then the
/// transparency log and issued-report records of an older data directory are imported (<see cref="LegacyDataImport"/>).
/// Processes starting together take turns (<see cref="DatabaseLocks"/>).
/// </summary>
public sealed class Migrator
{
    public const string JournalTable = "schema_versions";
    private const string LegacyJournalTable = "schema_migrations";
    private const string ScriptPrefix = "Audit.Api.Infrastructure.Persistence.Migrations.";

    private readonly IDatabase _database;
    private readonly DatabaseLocks _locks;
    private readonly LegacyDataImport _import;
    private readonly ILogger<Migrator> _logger;

    public Migrator(IDatabase database, DatabaseLocks locks, LegacyDataImport import, ILogger<Migrator> logger)
    {
        _database = database;
        _locks = locks;
        _import = import;
        _logger = logger;
    }

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using IAsyncDisposable turn = await _locks.AcquireAsync("migrations", cancellationToken);
        IReadOnlySet<string> legacy = await LegacyVersionsAsync(cancellationToken);
        if (legacy.Count > 0)
        {
            // Marks only what is not in DbUp's journal yet, so this is a no-op after the first start.
            Engine(name => legacy.Contains(name[ScriptPrefix.Length..][..4])).MarkAsExecuted();
        }

        DatabaseUpgradeResult result = Engine(_ => true).PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException($"Database migration {result.ErrorScript?.Name} failed: {result.Error?.Message}", result.Error);
        }

        await _import.ImportAsync(cancellationToken);
    }

    /// <summary>The embedded script names, in the order they run.</summary>
    public static IReadOnlyList<string> ScriptNames() =>
        [.. typeof(Migrator).Assembly.GetManifestResourceNames().Where(IsScript).Order(StringComparer.Ordinal)];

    private static bool IsScript(string resource) =>
        resource.StartsWith(ScriptPrefix, StringComparison.Ordinal) && resource.EndsWith(".sql", StringComparison.Ordinal);

    private UpgradeEngine Engine(Func<string, bool> scripts)
    {
        UpgradeEngineBuilder builder = _database.Provider switch
        {
            DatabaseProvider.PostgreSQL => DeployChanges.To.PostgresqlDatabase(_database.ConnectionString)
                .JournalToPostgresqlTable(null, JournalTable),
            _ => DeployChanges.To.SqliteDatabase(_database.ConnectionString).JournalToSqliteTable(JournalTable),
        };
        Assembly assembly = typeof(Migrator).Assembly;
        return builder
            .WithScriptsEmbeddedInAssembly(assembly, name => IsScript(name) && scripts(name))
            .WithTransactionPerScript()
            .WithVariablesDisabled()
            .LogTo(_logger)
            .Build();
    }

    /// <summary>Versions the pre-DbUp migrator recorded (e.g. "0003"); empty for a database it never touched.</summary>
    private async Task<IReadOnlySet<string>> LegacyVersionsAsync(CancellationToken cancellationToken)
    {
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
        string exists = _database.Provider == DatabaseProvider.PostgreSQL
            ? "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = @table"
            : "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = @table";
        if (await connection.ExecuteScalarAsync<long>(new CommandDefinition(exists, new { table = LegacyJournalTable }, cancellationToken: cancellationToken)) == 0)
        {
            return new HashSet<string>();
        }

        IEnumerable<long> versions = await connection.QueryAsync<long>(new CommandDefinition(
            $"SELECT version FROM {LegacyJournalTable}", cancellationToken: cancellationToken));
        return versions.Select(v => v.ToString("D4", System.Globalization.CultureInfo.InvariantCulture)).ToHashSet(StringComparer.Ordinal);
    }
}
