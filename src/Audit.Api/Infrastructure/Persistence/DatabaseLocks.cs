using System.Buffers.Binary;
using System.Data.Common;
using System.Security.Cryptography;
using Dapper;

namespace Audit.Api.Infrastructure.Persistence;

/// <summary>
/// Named locks held across processes that share the database: a session-level advisory lock on PostgreSQL (any
/// machine), a lock file beside the SQLite file (SQLite is shared only by processes of one machine). For what must
/// happen once however many processes try at the same moment (migrating, issuing a report).
/// </summary>
public sealed class DatabaseLocks(IDatabase database)
{
    public async Task<IAsyncDisposable> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        switch (database)
        {
            case PostgresDatabase:
                long key = BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("audit:" + name)));
                DbConnection connection = await database.OpenAsync(cancellationToken);
                try
                {
                    await connection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_lock(@key)", new { key }, cancellationToken: cancellationToken));
                }
                catch
                {
                    await connection.DisposeAsync();
                    throw;
                }

                return new Held(async () =>
                {
                    try
                    {
                        await connection.ExecuteAsync("SELECT pg_advisory_unlock(@key)", new { key });
                    }
                    finally
                    {
                        await connection.DisposeAsync();
                    }
                });
            case SqliteDatabase { FilePath: { } path }:
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                FileStream file = await LockFileAsync($"{path}.{name}.lock", cancellationToken);
                return new Held(file.DisposeAsync);
            default:
                // An in-memory database lives in one process; the caller's own locks suffice.
                return new Held(() => ValueTask.CompletedTask);
        }
    }

    private static async Task<FileStream> LockFileAsync(string path, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                // FileShare.None: a second open (this process or another) fails until this one is closed. Owner-only,
                // like everything else in the data directory.
                var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
                if (!OperatingSystem.IsWindows())
                {
                    options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                }

                return new FileStream(path, options);
            }
            catch (IOException)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
            }
        }
    }

    private sealed class Held(Func<ValueTask> release) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => release();
    }
}
