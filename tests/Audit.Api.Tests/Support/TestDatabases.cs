using Audit.Api.Infrastructure.Persistence;
using Npgsql;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Audit.Api.Tests.Support;

/// <summary>
/// The databases the provider-generic tests run on. SQLite needs nothing; PostgreSQL comes from
/// <c>AUDIT_TEST_POSTGRES</c> (a connection string to a server where the user may create databases; scripts/test.sh
/// starts a throwaway cluster and sets it), and each test database is created with a random name and dropped after.
/// Without it, PostgreSQL variants are skipped with that reason, unless <c>AUDIT_REQUIRE_POSTGRES=1</c> (the test
/// script), where they fail instead: CI must not pass without having run them.
/// </summary>
public static class TestDatabases
{
    public const string ServerVariable = "AUDIT_TEST_POSTGRES";
    public const string RequireVariable = "AUDIT_REQUIRE_POSTGRES";

    public static string? Server => Environment.GetEnvironmentVariable(ServerVariable) is { Length: > 0 } value ? value : null;

    /// <summary>Why PostgreSQL variants do not run here; null when they do (or must).</summary>
    public static string? PostgresSkipReason =>
        Server is null && Environment.GetEnvironmentVariable(RequireVariable) != "1"
            ? $"PostgreSQL variant: set {ServerVariable} to a PostgreSQL connection string (scripts/test.sh starts a throwaway cluster)."
            : null;

    /// <summary>Creates an empty PostgreSQL database; returns its connection string.</summary>
    public static string CreatePostgres()
    {
        string server = Server ?? throw new InvalidOperationException(
            $"{ServerVariable} is not set, and {RequireVariable}=1 requires the PostgreSQL variants to run.");
        string name = "audit_test_" + Guid.NewGuid().ToString("N");
        using (var connection = new NpgsqlConnection(server))
        {
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'", connection);
            command.ExecuteNonQuery();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ToString();
    }

    /// <summary>Drops a database <see cref="CreatePostgres"/> made, closing what still uses it.</summary>
    public static async Task DropPostgresAsync(string connectionString)
    {
        string name = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(Server);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The <c>Audit:Database:*</c> settings for a fresh database of <paramref name="provider"/> (null: the default SQLite file).</summary>
    public static Dictionary<string, string?> Settings(DatabaseProvider provider, string? connectionString) => new()
    {
        ["Audit:Database:Provider"] = provider.ToString(),
        ["Audit:Database:ConnectionString"] = connectionString,
    };
}

/// <summary>A test class whose tests run on PostgreSQL: <see cref="DatabaseFactAttribute"/> skips them without a server.</summary>
public interface IRunsOnPostgres;

/// <summary>
/// A fact of a provider-generic test base: runs as usual, except in a class marked <see cref="IRunsOnPostgres"/>
/// when no PostgreSQL server is configured (see <see cref="TestDatabases"/>), where it is skipped with the reason.
/// </summary>
[XunitTestCaseDiscoverer("Audit.Api.Tests.Support.DatabaseFactDiscoverer", "Audit.Api.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class DatabaseFactAttribute : FactAttribute;

public sealed class DatabaseFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        yield return new DatabaseTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
    }
}

public sealed class DatabaseTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public DatabaseTestCase()
    {
    }

    public DatabaseTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod)
        : base(diagnosticMessageSink, display, options, testMethod)
    {
    }

    protected override string? GetSkipReason(IAttributeInfo factAttribute) =>
        typeof(IRunsOnPostgres).IsAssignableFrom(TestMethod.TestClass.Class.ToRuntimeType())
            ? TestDatabases.PostgresSkipReason ?? base.GetSkipReason(factAttribute)
            : base.GetSkipReason(factAttribute);
}

/// <summary>A theory of a provider-generic test base; see <see cref="DatabaseFactAttribute"/>.</summary>
[XunitTestCaseDiscoverer("Audit.Api.Tests.Support.DatabaseTheoryDiscoverer", "Audit.Api.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class DatabaseTheoryAttribute : TheoryAttribute;

public sealed class DatabaseTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
{
    public override IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo theoryAttribute) =>
        typeof(IRunsOnPostgres).IsAssignableFrom(testMethod.TestClass.Class.ToRuntimeType()) && TestDatabases.PostgresSkipReason is not null
            // One skipped case for the whole theory: it never runs, so it needs no data.
            ? [new DatabaseTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)]
            : base.Discover(discoveryOptions, testMethod, theoryAttribute);
}
