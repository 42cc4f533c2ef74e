using Audit.Worker;

// Start the API first on a fresh data folder (it creates the development keys); each process migrates the schema and
// loads the signing key before it runs anything. Stop with SIGTERM: running audits are left to lapse and resume.
// libtorch's OpenMP workers sleep instead of spinning while idle, unless the operator set OMP_WAIT_POLICY; must run
// before anything loads libtorch (docs/operations.md, "libtorch's OpenMP threads").
Audit.Evaluators.Runtime.OpenMpWaitPolicy.PreferPassive();
// oneDNN's instruction set: the most capable one whose convolutions are right here, chosen in child processes (the
// API's program, which this host carries) before this process loads libtorch (docs/operations.md).
Audit.Api.Infrastructure.Isolation.HostOneDnnInstructionSet.BeforeLibTorchLoads();
using IHost host = WorkerHost.Build(args);
await WorkerHost.RunAsync(host, CancellationToken.None);
