using Audit.Worker;

// Start the API first on a fresh data folder (it creates the development keys); each process migrates the schema and
// loads the signing key before it runs anything. Stop with SIGTERM: running audits are left to lapse and resume.
using IHost host = WorkerHost.Build(args);
await WorkerHost.RunAsync(host, CancellationToken.None);
