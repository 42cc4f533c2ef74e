using Audit.Worker;

// Start the API first on a fresh data folder (it creates the development keys); each process migrates the schema and
// loads the signing key before it runs anything. Stop with SIGTERM: running audits are left to lapse and resume.
// libtorch's OpenMP workers sleep instead of spinning while idle, unless the operator set OMP_WAIT_POLICY; must run
// before anything loads libtorch (docs/operations.md, "libtorch's OpenMP threads").
Audit.Evaluators.Runtime.OpenMpWaitPolicy.PreferPassive();
using IHost host = WorkerHost.Build(args);
await WorkerHost.RunAsync(host, CancellationToken.None);
