using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Opens connections to the service's database. SQLite is the embedded default; the SQL the features write
/// stays portable (named parameters, ISO-8601 text timestamps, no vendor functions) so a PostgreSQL
/// implementation is a second factory, not a rewrite.
/// </summary>
public interface IDatabase
{
    Task<DbConnection> OpenAsync(CancellationToken cancellationToken);
}

public sealed class SqliteDatabase : IDatabase
{
    private readonly string _connectionString;

    public SqliteDatabase(string path)
    {
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        // The worker writes while requests read: WAL lets them proceed together; busy_timeout waits out writers.
        await using DbCommand pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=30000; PRAGMA foreign_keys=ON;";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }
}
