using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Infrastructure;

/// <summary>
/// The API in process on a fresh data directory (SQLite file, artifact store) with known keys for two tenants.
/// Every test class that needs isolation creates its own. With <see cref="DatabaseProvider.PostgreSQL"/> it gets a
/// fresh PostgreSQL database of its own (see <see cref="TestDatabases"/>), dropped when it is disposed.
/// </summary>
public sealed class AuditApiFactory : WebApplicationFactory<Program>
{
    public const string AcmeCompliance = "test-acme-compliance-key";
    public const string AcmeAuditor = "test-acme-auditor-key";
    public const string GlobexCompliance = "test-globex-compliance-key";
    public const string Regulator = "test-regulator-key";
    public const string Admin = "test-admin-key";

    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _services;
    private readonly string? _postgres;

    /// <param name="services">Replaces services after the app registered its own (e.g. a scripted probe).</param>
    public AuditApiFactory(
        string? dataDirectory = null,
        bool worker = true,
        long maxUploadBytes = 64 * 1024 * 1024,
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null,
        DatabaseProvider database = DatabaseProvider.Sqlite)
    {
        _services = services;
        _postgres = database == DatabaseProvider.PostgreSQL ? TestDatabases.CreatePostgres() : null;
        DataDirectory = dataDirectory ?? Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        _settings = new Dictionary<string, string?>
        {
            ["Audit:DataDirectory"] = DataDirectory,
            ["Audit:Artifacts:MaxSizeBytes"] = maxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Audit:Worker:Enabled"] = worker ? "true" : "false",
            ["Audit:Worker:PollInterval"] = "00:00:00.100",
            ["Audit:Worker:LeaseDuration"] = "00:00:03",
            // Seconds of CPU per factory; ProbeWarmUpGateTests and the README's real process test the warm-up.
            ["Audit:Worker:WarmUp"] = "false",
            ["Audit:Device"] = "cpu",
            // Tests of other behaviour share one client address; the rate limit has its own tests.
            ["Audit:Verification:PermitLimit"] = "100000",
            ["Audit:ApiKeys:0:Key"] = AcmeCompliance,
            ["Audit:ApiKeys:0:Tenant"] = "acme",
            ["Audit:ApiKeys:0:Role"] = "compliance",
            ["Audit:ApiKeys:1:Key"] = AcmeAuditor,
            ["Audit:ApiKeys:1:Tenant"] = "acme",
            ["Audit:ApiKeys:1:Role"] = "auditor",
            ["Audit:ApiKeys:2:Key"] = GlobexCompliance,
            ["Audit:ApiKeys:2:Tenant"] = "globex",
            ["Audit:ApiKeys:2:Role"] = "compliance",
            ["Audit:ApiKeys:3:Key"] = Regulator,
            ["Audit:ApiKeys:3:Role"] = "regulator",
            ["Audit:ApiKeys:4:Key"] = Admin,
            ["Audit:ApiKeys:4:Role"] = "admin",
        };
        foreach ((string key, string? value) in TestDatabases.Settings(database, _postgres))
        {
            _settings[key] = value;
        }

        foreach ((string key, string? value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    public string DataDirectory { get; }

    public HttpClient ClientFor(string apiKey)
    {
        HttpClient client = CreateClient();
        client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return client;
    }

    public HttpClient BearerClientFor(string apiKey)
    {
        HttpClient client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_postgres is not null)
        {
            await TestDatabases.DropPostgresAsync(_postgres);
        }
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // UseSetting reaches the configuration Program.cs reads before Build(); ConfigureAppConfiguration would not.
        foreach ((string key, string? value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        builder.UseEnvironment("Testing");
        if (_services is not null)
        {
            builder.ConfigureTestServices(_services);
        }
    }
}
