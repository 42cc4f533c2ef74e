using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Audit.Worker.Tests.Support;

/// <summary>
/// One deployment of the service as real processes (<c>dotnet</c> of the built dlls): one API and any number of worker
/// hosts on one data folder and database. SQLite and the file store by default; PostgreSQL when
/// <c>AUDIT_TEST_POSTGRES</c> is set (a database of its own is created on that server) and S3 when
/// <c>AUDIT_TEST_S3_URL</c> is set (bucket <c>AUDIT_TEST_S3_BUCKET</c>, or a fresh one per run; keys
/// <c>AUDIT_TEST_S3_ACCESS_KEY</c>/<c>AUDIT_TEST_S3_SECRET_KEY</c>, default s3rver's <c>S3RVER</c>). Every process's output
/// goes to a file under <see cref="Root"/>, printed by <see cref="Tail"/> when a test fails.
/// </summary>
public sealed class Deployment : IDisposable
{
    private readonly List<Process> _processes = [];
    private readonly Dictionary<string, string> _environment;
    private int _started;

    public Deployment(IDictionary<string, string>? settings = null)
    {
        Root = Path.Combine(Path.GetTempPath(), "audit-tests", "deploy-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(Root, "logs"));
        DataDirectory = Path.Combine(Root, "data");
        Port = FreePort();
        _environment = new Dictionary<string, string>
        {
            ["Audit__DataDirectory"] = DataDirectory,
            ["Audit__Device"] = "cpu",
            // Each process would warm the probes up for seconds before claiming; these tests are about claims.
            ["Audit__Worker__WarmUp"] = "false",
            // Every process prints the same address in its reports, whichever issues them.
            ["Audit__PublicBaseUrl"] = BaseAddress.ToString().TrimEnd('/'),
            ["Audit__Verification__PermitLimit"] = "1000000",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning",
            ["DOTNET_gcServer"] = "0",
        };
        foreach ((string key, string value) in Backends())
        {
            _environment[key] = value;
        }

        foreach ((string key, string value) in settings ?? new Dictionary<string, string>())
        {
            _environment[key] = value;
        }

        Backend = $"{(_environment.ContainsKey("Audit__Database__ConnectionString") ? "PostgreSQL" : "SQLite")} + {(_environment.ContainsKey("Audit__Storage__S3__ServiceUrl") ? "S3" : "FileSystem")}";
    }

    public string Root { get; }

    public string DataDirectory { get; }

    public int Port { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>The database and store these processes run on, in words.</summary>
    public string Backend { get; }

    /// <summary>Starts the API (its own workers off) and waits until it is ready; returns a client with the compliance key.</summary>
    public async Task<(Process Process, HttpClient Client)> StartApiAsync()
    {
        Process api = Start("Audit.Api", "api", "--urls", $"http://127.0.0.1:{Port}", "--Audit:Worker:Enabled", "false");
        var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(3) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Assert.False(api.HasExited, "the API exited:\n" + Tail());
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(2), "the API did not become ready:\n" + Tail());
            try
            {
                if ((await http.GetAsync(new Uri("health/ready", UriKind.Relative))).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(250);
        }

        http.DefaultRequestHeaders.Add("X-Api-Key", (await File.ReadAllTextAsync(Path.Combine(DataDirectory, "dev-keys", "compliance.key"))).Trim());
        return (api, http);
    }

    /// <summary>Starts a worker host (<c>dotnet Audit.Worker.dll</c>); it claims as soon as it has migrated.</summary>
    public Process StartWorker(params string[] arguments) => Start("Audit.Worker", "worker", arguments);

    /// <summary>SIGKILL (on Unix): no shutdown code runs, the lease it held simply stops being renewed.</summary>
    public static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }

        process.WaitForExit();
    }

    /// <summary>The last lines of every process's output, for failure messages.</summary>
    public string Tail(int lines = 15)
    {
        var text = new System.Text.StringBuilder();
        foreach (string file in Directory.GetFiles(Path.Combine(Root, "logs")).Order(StringComparer.Ordinal))
        {
            text.AppendLine("== " + Path.GetFileName(file));
            string[] all = ReadShared(file).Split('\n');
            foreach (string line in all.Skip(Math.Max(0, all.Length - lines)))
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    /// <summary>Every line the processes logged, for assertions on what happened.</summary>
    public IEnumerable<string> LogLines() =>
        Directory.GetFiles(Path.Combine(Root, "logs")).SelectMany(f => ReadShared(f).Split('\n'));

    public void Dispose()
    {
        foreach (Process process in _processes)
        {
            try
            {
                Kill(process);
            }
            catch (InvalidOperationException)
            {
                // Never started or already reaped.
            }

            process.Dispose();
        }
    }

    private Process Start(string project, string role, params string[] arguments)
    {
        string dll = Path.Combine(RepositoryRoot(), "src", project, "bin", BuildConfiguration(), "net10.0", project + ".dll");
        Assert.True(File.Exists(dll), $"{dll} is not built");
        int n = Interlocked.Increment(ref _started);
        string log = Path.Combine(Root, "logs", $"{n:000}-{role}.log");
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = Root, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string key, string value) in _environment)
        {
            start.Environment[key] = value;
        }

        Process process = Process.Start(start)!;
        var writer = new StreamWriter(new FileStream(log, FileMode.Create, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var gate = new Lock();
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => { lock (gate) { writer.Dispose(); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return process;

        void Write(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (gate)
            {
                try
                {
                    writer.WriteLine(line);
                }
                catch (ObjectDisposedException)
                {
                    // The process ended; its last lines raced the close.
                }
            }
        }
    }

    private static string ReadShared(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static IEnumerable<(string, string)> Backends()
    {
        if (Environment.GetEnvironmentVariable("AUDIT_TEST_POSTGRES") is { Length: > 0 } server)
        {
            string name = "audit_fault_" + Guid.NewGuid().ToString("N");
            using (var connection = new NpgsqlConnection(server))
            {
                connection.Open();
                using var command = new NpgsqlCommand($"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8'", connection);
                command.ExecuteNonQuery();
            }

            yield return ("Audit__Database__Provider", "PostgreSQL");
            yield return ("Audit__Database__ConnectionString", new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString);
        }

        if (Environment.GetEnvironmentVariable("AUDIT_TEST_S3_URL") is { Length: > 0 } s3)
        {
            string accessKey = Environment.GetEnvironmentVariable("AUDIT_TEST_S3_ACCESS_KEY") ?? "S3RVER";
            string secretKey = Environment.GetEnvironmentVariable("AUDIT_TEST_S3_SECRET_KEY") ?? "S3RVER";
            // The service never creates its bucket (an operator does): a run gets a fresh one, so runs never share objects.
            string bucket = Environment.GetEnvironmentVariable("AUDIT_TEST_S3_BUCKET") is { Length: > 0 } given
                ? given
                : CreateBucket(s3, accessKey, secretKey);
            yield return ("Audit__Storage__Provider", "S3");
            yield return ("Audit__Storage__S3__ServiceUrl", s3);
            yield return ("Audit__Storage__S3__Bucket", bucket);
            yield return ("Audit__Storage__S3__AccessKey", accessKey);
            yield return ("Audit__Storage__S3__SecretKey", secretKey);
        }
    }

    private static string CreateBucket(string serviceUrl, string accessKey, string secretKey)
    {
        string bucket = "audit-fault-" + Guid.NewGuid().ToString("N")[..16];
        using var client = new Amazon.S3.AmazonS3Client(
            new Amazon.Runtime.BasicAWSCredentials(accessKey, secretKey),
            new Amazon.S3.AmazonS3Config { ServiceURL = serviceUrl, ForcePathStyle = true });
        client.PutBucketAsync(bucket).GetAwaiter().GetResult();
        return bucket;
    }

    /// <summary>Debug or Release: the configuration this test assembly was built in (…/bin/{configuration}/net10.0/).</summary>
    private static string BuildConfiguration() => new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    public static string RepositoryRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Audit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Audit.sln not found above the test directory.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
