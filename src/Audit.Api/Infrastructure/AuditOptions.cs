namespace Audit.Api.Infrastructure;

/// <summary>The <c>Audit</c> configuration section.</summary>
public sealed class AuditOptions
{
    public const string Section = "Audit";

    /// <summary>Database, artifacts and keys live under it. Relative paths resolve against the working directory.</summary>
    public string DataDirectory { get; set; } = "data";

    public ArtifactOptions Artifacts { get; set; } = new();

    /// <summary>Where artifacts, evidence and report PDFs are kept: the data directory (default) or an S3 bucket.</summary>
    public Artifacts.StorageOptions Storage { get; set; } = new();
    /// <summary><c>Audit:Database:Provider</c> (Sqlite or PostgreSQL) and <c>Audit:Database:ConnectionString</c>.</summary>
    public Persistence.DatabaseOptions Database { get; set; } = new();

    /// <summary>Keys given in configuration (<c>Audit:ApiKeys:N:Key</c>, <c>:Tenant</c>, <c>:Role</c>).</summary>
    public List<ConfiguredApiKey> ApiKeys { get; set; } = [];

    /// <summary>
    /// When no key exists at all, create a development tenant with one key per role and write them under
    /// <c>DataDirectory/dev-keys</c> (mode 0600), so the embedded default is usable at once. Turn off in production.
    /// </summary>
    public bool CreateDevelopmentKeys { get; set; } = true;

    /// <summary><c>auto</c>, <c>cpu</c> or <c>cuda</c>: where evaluator tensors live.</summary>
    public string Device { get; set; } = "auto";

    public WorkerOptions Worker { get; set; } = new();

    public Telemetry.TelemetryOptions Telemetry { get; set; } = new();

    public Features.Webhooks.WebhookOptions Webhooks { get; set; } = new();

    /// <summary>How often an audit's event stream (server-sent events) reads the database for changes.</summary>
    public TimeSpan EventsPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The address regulators reach this service at (e.g. <c>https://audit.example.org</c>), printed in every report
    /// with its /verify page. Unset, the first address the server listens on.
    /// </summary>
    public string? PublicBaseUrl { get; set; }

    public VerificationOptions Verification { get; set; } = new();

    public string DataPath => Path.GetFullPath(DataDirectory);
}

public sealed class ArtifactOptions
{
    /// <summary>Largest accepted upload; larger ones get 413. Default 512 MiB.</summary>
    public long MaxSizeBytes { get; set; } = 512L * 1024 * 1024;
}

public sealed class ConfiguredApiKey
{
    public string Key { get; set; } = "";

    public string? Tenant { get; set; }

    public string Role { get; set; } = "";
}

public sealed class WorkerOptions
{
    /// <summary>
    /// Run audits in this process (the embedded default does). With <c>false</c> the API only queues them and worker
    /// hosts (<c>src/Audit.Worker</c>) on the same database and store run them.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Audits one process runs at once. Each probe already uses every core through libtorch, so more than one pays
    /// only when audits wait on I/O or the machine has cores to spare.
    /// </summary>
    public int Concurrency { get; set; } = 1;

    /// <summary>How often an idle worker looks for queued audits.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a claim on a running audit lasts without renewal. A worker that dies stops renewing, and the
    /// audit is claimed again once this passes: never lost, never run by two workers at once.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many times one audit may be claimed. A claim past this (the earlier ones crashed, were interrupted or
    /// could not store their result) ends the audit failed with the last error an attempt recorded.
    /// </summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Seed for every probe of an audit, reported for reproducibility.</summary>
    public int Seed { get; set; } = 20240613;

    /// <summary>
    /// Before claiming its first audit, run the built-in trojan-scan profile's probes once on a small synthetic model
    /// (a few seconds), so the first real audit does not pay for compiling their code; /health/ready answers 503
    /// until it has run. Its findings are discarded and no audit's findings depend on it.
    /// </summary>
    public bool WarmUp { get; set; } = true;
}

/// <summary>Limits on the public (anonymous) verification endpoints.</summary>
public sealed class VerificationOptions
{
    /// <summary>Verifications one client IP may ask for per <see cref="Window"/>; further ones get 429.</summary>
    public int PermitLimit { get; set; } = 30;

    public TimeSpan Window { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Largest report accepted for verification; larger uploads get 413. Default 64 MiB.</summary>
    public long MaxUploadBytes { get; set; } = 64L * 1024 * 1024;
}
