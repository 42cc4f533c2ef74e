using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>Which database the service keeps its state in (<c>Audit:Database:Provider</c>).</summary>
public enum DatabaseProvider
{
    /// <summary>The embedded default: one file under the data directory, one machine.</summary>
    Sqlite,

    /// <summary>A PostgreSQL server shared by the API and any number of workers.</summary>
    PostgreSQL,
}

/// <summary><c>Audit:Database</c>: the provider and its connection string.</summary>
public sealed class DatabaseOptions
{
    public DatabaseProvider Provider { get; set; } = DatabaseProvider.Sqlite;

    /// <summary>
    /// An ADO.NET connection string for the provider. Unset with SQLite: <c>{DataDirectory}/audit.db</c>. Required
    /// with PostgreSQL.
    /// </summary>
    public string? ConnectionString { get; set; }
}

/// <summary>
/// Opens connections to the service's database. The SQL the features write is portable between SQLite and
/// PostgreSQL (named parameters, ISO-8601 text timestamps, BIGINT integers, 0/1 flags, LIMIT/OFFSET); where the two
/// must differ (row locks), callers ask <see cref="Provider"/>.
/// </summary>
public interface IDatabase
{
    DatabaseProvider Provider { get; }

    /// <summary>The connection string the migrations run with.</summary>
    string ConnectionString { get; }

    Task<DbConnection> OpenAsync(CancellationToken cancellationToken);
}

/// <summary>Creates the configured database.</summary>
public static class Databases
{
    public static IDatabase Create(DatabaseOptions options, string dataPath) => options.Provider switch
    {
        DatabaseProvider.Sqlite => string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new SqliteDatabase(Path.Combine(dataPath, "audit.db"))
            : SqliteDatabase.FromConnectionString(options.ConnectionString),
        DatabaseProvider.PostgreSQL => new PostgresDatabase(string.IsNullOrWhiteSpace(options.ConnectionString)
            ? throw new InvalidOperationException("Audit:Database:ConnectionString is required when Audit:Database:Provider is PostgreSQL.")
            : options.ConnectionString),
        _ => throw new InvalidOperationException($"Unknown Audit:Database:Provider '{options.Provider}' (Sqlite or PostgreSQL)."),
    };
}

public sealed class SqliteDatabase : IDatabase
{
    public SqliteDatabase(string path)
        : this(new SqliteConnectionStringBuilder { DataSource = path })
    {
    }

    private SqliteDatabase(SqliteConnectionStringBuilder builder)
    {
        builder.Mode = SqliteOpenMode.ReadWriteCreate;
        builder.Pooling = true;
        builder.DefaultTimeout = 30;
        ConnectionString = builder.ToString();
        FilePath = builder.DataSource is "" or ":memory:" ? null : Path.GetFullPath(builder.DataSource);
    }

    public DatabaseProvider Provider => DatabaseProvider.Sqlite;

    public string ConnectionString { get; }

    /// <summary>The database file; null for an in-memory database.</summary>
    public string? FilePath { get; }

    public static SqliteDatabase FromConnectionString(string connectionString) => new(new SqliteConnectionStringBuilder(connectionString));

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        // The worker writes while requests read: WAL lets them proceed together; busy_timeout waits out writers.
        await using DbCommand pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }
}

/// <summary>PostgreSQL through one pooled Npgsql data source.</summary>
public sealed class PostgresDatabase : IDatabase, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresDatabase(string connectionString)
    {
        ConnectionString = connectionString;
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public DatabaseProvider Provider => DatabaseProvider.PostgreSQL;

    public string ConnectionString { get; }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) => await _dataSource.OpenConnectionAsync(cancellationToken);

    public void Dispose() => _dataSource.Dispose();
}
