using System.Data.Common;
using Audit.Api.Features.Transparency;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Support;
using Audit.Api.Tests.Transparency;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;

namespace Audit.Api.Tests.Persistence;

/// <summary>
/// Migrations, the shared transparency log and the issued-report records, against a fresh database of each provider
/// per test (the PostgreSQL variant needs <c>AUDIT_TEST_POSTGRES</c>, see <see cref="TestDatabases"/>).
/// </summary>
public abstract class PersistenceTests : IAsyncLifetime
{
    private readonly DatabaseProvider _provider;
    private readonly TempDirectory _data = new();
    private readonly List<IDatabase> _opened = [];
    private string? _connectionString;

    protected PersistenceTests(DatabaseProvider provider)
    {
        _provider = provider;
    }

    public Task InitializeAsync()
    {
        _connectionString = _provider == DatabaseProvider.PostgreSQL ? TestDatabases.CreatePostgres() : null;
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (IDatabase database in _opened)
        {
            (database as IDisposable)?.Dispose();
        }

        if (_connectionString is not null)
        {
            await TestDatabases.DropPostgresAsync(_connectionString);
        }

        _data.Dispose();
    }

    [DatabaseFact]
    public async Task Migrate_FreshDatabase_RunsEveryScriptOnce_AndAgainIsANoOp()
    {
        IDatabase database = Open();
        await MigrateAsync(database);
        await MigrateAsync(database);

        await using DbConnection connection = await database.OpenAsync(CancellationToken.None);
        List<string> journal = (await connection.QueryAsync<string>($"SELECT scriptname FROM {Migrator.JournalTable} ORDER BY scriptname")).ToList();
        Assert.Equal(Migrator.ScriptNames(), journal);
        Assert.Equal(0L, await connection.ExecuteScalarAsync<long>("SELECT tree_size FROM transparency_log_state WHERE id = 1"));
    }

    [DatabaseFact]
    public async Task BigValues_RoundTripAsBigint()
    {
        IDatabase database = Open();
        await MigrateAsync(database);
        var repository = new ArtifactRepository(database);
        var row = new ArtifactRow("art_big", "acme", "model", "big", new string('a', 64), 5_000_000_000, "onnx", null, "2026-11-30T00:00:00.0000000+00:00");

        await repository.InsertAsync(row, "key", CancellationToken.None);

        Assert.Equal(5_000_000_000, (await repository.FindAsync("acme", "art_big", CancellationToken.None))!.SizeBytes);
        Assert.Equal(1, (await repository.ListAsync("acme", page: 1, pageSize: 10, CancellationToken.None)).Total);
    }

    [DatabaseFact]
    public async Task ParallelAppends_FromTwoStoresOnOneDatabase_NeverRepeatAnIndex_AndEveryPairOfTreeHeadsIsConsistent()
    {
        IDatabase first = Open();
        await MigrateAsync(first);
        IDatabase second = Open();
        using var a = new DatabaseTransparencyLogStore(first, TimeProvider.System);
        using var b = new DatabaseTransparencyLogStore(second, TimeProvider.System);
        const int PerStore = 12;

        long[] indices = await Task.WhenAll(Enumerable.Range(0, PerStore * 2).Select(i => Task.Run(async () =>
        {
            DatabaseTransparencyLogStore store = i % 2 == 0 ? a : b;
            // Reserved appends: the entry names its own index, as a report does.
            var (index, entry, _) = await store.AppendReservedAsync(
                (reserved, _) => Task.FromResult((System.Text.Encoding.UTF8.GetBytes($"entry {i} at {reserved}"), 0)), CancellationToken.None);
            Assert.Equal($"entry {i} at {index}", System.Text.Encoding.UTF8.GetString(entry));
            return index;
        })));

        Assert.Equal(Enumerable.Range(0, PerStore * 2).Select(i => (long)i), indices.Order());
        IReadOnlyList<byte[]> entries = await a.ReadAllAsync(CancellationToken.None);
        Assert.Equal(PerStore * 2, entries.Count);
        for (int i = 0; i < entries.Count; i++)
        {
            Assert.EndsWith($" at {i}", System.Text.Encoding.UTF8.GetString(entries[i]), StringComparison.Ordinal);
        }

        // Every tree head recorded after an append: each is the root of the entries up to its size, and each pair
        // is consistent (RFC 9162 proofs checked by the independent verifier).
        await using DbConnection connection = await first.OpenAsync(CancellationToken.None);
        var heads = (await connection.QueryAsync<(long Size, string Root)>("SELECT tree_size, root_hash FROM transparency_tree_heads ORDER BY tree_size")).ToList();
        Assert.Equal(Enumerable.Range(1, PerStore * 2).Select(i => (long)i), heads.Select(h => h.Size));
        List<byte[]> leaves = [.. entries.Select(Rfc9162Verifier.Leaf)];
        foreach (var head in heads)
        {
            Assert.Equal(Convert.ToHexStringLower(Rfc9162Verifier.RootOf([.. entries.Take((int)head.Size)])), head.Root);
        }

        for (int i = 0; i < heads.Count; i++)
        {
            for (int j = i + 1; j < heads.Count; j++)
            {
                IReadOnlyList<byte[]> proof = MerkleTree.ConsistencyProof(leaves, (int)heads[i].Size, (int)heads[j].Size);
                Assert.True(Rfc9162Verifier.VerifyConsistency(
                    heads[i].Size, heads[j].Size, Convert.FromHexString(heads[i].Root), Convert.FromHexString(heads[j].Root), proof),
                    $"{heads[i].Size} -> {heads[j].Size}");
            }
        }
    }

    [DatabaseFact]
    public async Task Migrate_DataDirectoryOfAnOlderVersion_ImportsItsLogAndReports_Once()
    {
        // What an older version left in the data directory: the log file and a report's record and PDF.
        byte[][] written = [.. Enumerable.Range(0, 5).Select(i => System.Text.Encoding.UTF8.GetBytes($"{{\"old\":{i}}}"))];
        using (var file = new FileTransparencyLogStore(_data.Path))
        {
            foreach (byte[] entry in written)
            {
                await file.AppendAsync(entry, CancellationToken.None);
            }
        }

        var report = new IssuedReport("rpt_old", "aud_old", "acme", new string('b', 64), 1234, DateTimeOffset.Parse("2026-11-01T10:00:00Z", System.Globalization.CultureInfo.InvariantCulture),
            "key-1", 3, written[3], [1, 2, 3], [4, 5]);
        byte[] pdf = "%PDF-1.7 old"u8.ToArray();
        await new FileIssuedReportStore(_data.Path, new Audit.Api.Infrastructure.Artifacts.FileSystemBlobStorage(_data.Path)).SaveAsync(report, pdf, CancellationToken.None);

        IDatabase database = Open();
        await MigrateAsync(database);
        await MigrateAsync(database);

        using var store = new DatabaseTransparencyLogStore(database, TimeProvider.System);
        Assert.Equal(written, await store.ReadAllAsync(CancellationToken.None));
        Assert.Equal(5, (await store.AppendAsync("new"u8.ToArray(), CancellationToken.None)));
        var reports = new DatabaseIssuedReportStore(database, new FileIssuedReportStore(_data.Path, new Audit.Api.Infrastructure.Artifacts.FileSystemBlobStorage(_data.Path)));
        IssuedReport found = (await reports.FindAsync("rpt_old", CancellationToken.None))!;
        Assert.Equal(report with { LogEntry = [], Receipt = [], Statement = [] }, found with { LogEntry = [], Receipt = [], Statement = [] });
        Assert.Equal(report.LogEntry, found.LogEntry);
        Assert.Equal(report.Receipt, found.Receipt);
        Assert.Equal(report.Statement, found.Statement);
        Assert.Equal("rpt_old", (await reports.FindBySha256Async(report.Sha256, CancellationToken.None))!.ReportId);
        Assert.Equal(pdf, await reports.ReadPdfAsync("rpt_old", CancellationToken.None));
        await using DbConnection connection = await database.OpenAsync(CancellationToken.None);
        Assert.Equal(1L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM issued_reports"));
        Assert.True(File.Exists(Path.Combine(_data.Path, "transparency", "log.bin")), "the imported file is kept");
    }

    protected IDatabase Open()
    {
        IDatabase database = Databases.Create(
            new DatabaseOptions { Provider = _provider, ConnectionString = _connectionString }, _data.Path);
        _opened.Add(database);
        return database;
    }

    protected Task MigrateAsync(IDatabase database) =>
        new Migrator(database, new DatabaseLocks(database), new LegacyDataImport(database, new DatabaseTransparencyLogStore(database, TimeProvider.System), _data.Path,
            new Audit.Api.Infrastructure.Artifacts.FileSystemBlobStorage(_data.Path),
            NullLogger<LegacyDataImport>.Instance), NullLogger<Migrator>.Instance).MigrateAsync(CancellationToken.None);

    protected string DataPath => _data.Path;
}

public sealed class PersistenceTestsOnSqlite() : PersistenceTests(DatabaseProvider.Sqlite)
{
    [Fact]
    public async Task Migrate_DatabaseOfThePreDbUpMigrator_AdoptsItsJournal_KeepsEveryRow_AndAddsTheNewTables()
    {
        string path = Path.Combine(DataPath, "audit.db");
        await using (var legacy = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            await legacy.OpenAsync();
            await legacy.ExecuteAsync(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Persistence", "Fixtures", "legacy-0005.sql")));
        }

        IDatabase database = Open();
        await MigrateAsync(database);

        await using DbConnection connection = await database.OpenAsync(CancellationToken.None);
        Assert.Equal(Migrator.ScriptNames(), (await connection.QueryAsync<string>($"SELECT scriptname FROM {Migrator.JournalTable} ORDER BY scriptname")).ToList());
        Assert.Equal(5L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM schema_migrations"));
        AuditRow audit = (await connection.QuerySingleAsync<AuditRow>($"SELECT {AuditRow.Columns} FROM audits WHERE id = 'aud_legacy'"))!;
        Assert.Equal(5_000_000_000, audit.Seed);
        Assert.Equal("succeeded", audit.Status);
        Assert.Equal(3_000_000_000, (await new ArtifactRepository(database).FindAsync("acme", "art_legacy", CancellationToken.None))!.SizeBytes);
        Assert.Equal(0.25, await connection.ExecuteScalarAsync<double>("SELECT score FROM findings WHERE audit_id = 'aud_legacy'"));
        Assert.Equal("acme", await connection.ExecuteScalarAsync<string>("SELECT caller_tenant_id FROM report_access WHERE id = 'acc_legacy'"));
        Assert.Equal(0L, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM issued_reports"));
    }
}

public sealed class PersistenceTestsOnPostgres() : PersistenceTests(DatabaseProvider.PostgreSQL), IRunsOnPostgres;
