#!/usr/bin/env bash
# Installs what the tests need (Debian packages) and runs every test in the solution.
# Usage: scripts/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Real data and real tools, not mocks: Fashion-MNIST for probe fixtures; pdfsig/pdftotext, qpdf and openssl
# to check reports as a regulator would; chromium for the /verify page test; a PostgreSQL server for the tests that
# run on both databases.
packages=(dataset-fashion-mnist poppler-utils qpdf openssl chromium postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f tests/Audit.Api.Tests/Verify/package.json ] && command -v npm >/dev/null 2>&1; then
  (cd tests/Audit.Api.Tests/Verify && npm ci --no-audit --no-fund --silent)
fi

# A local S3-compatible server (npm's s3rver) for the S3 storage tests: a throwaway directory, a free port, stopped on
# exit. AUDIT_REQUIRE_S3=1 turns "no server" into failures instead of skips.
s3rver_pid=""
s3rver_dir=""
pg_dir=""
stop_servers() {
  if [ -n "$s3rver_pid" ]; then kill "$s3rver_pid" 2>/dev/null || true; wait "$s3rver_pid" 2>/dev/null || true; fi
  if [ -n "$s3rver_dir" ]; then rm -rf "$s3rver_dir"; fi
  if [ -n "$pg_dir" ]; then scripts/throwaway-postgres.sh stop "$pg_dir" || true; fi
}
trap stop_servers EXIT
if command -v npm >/dev/null 2>&1; then
  (cd tests/S3Server && npm ci --no-audit --no-fund --silent)
  s3rver_dir=$(mktemp -d)
  node tests/S3Server/node_modules/s3rver/bin/s3rver.js -d "$s3rver_dir/data" -a 127.0.0.1 -p 0 >"$s3rver_dir/log" 2>&1 &
  s3rver_pid=$!
  for _ in $(seq 1 300); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$s3rver_dir/log" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  if [ -z "${port:-}" ]; then
    echo "s3rver did not start:"; cat "$s3rver_dir/log"; exit 1
  fi
  export AUDIT_TEST_S3_URL="http://127.0.0.1:$port"
  echo "S3 test server (s3rver) at $AUDIT_TEST_S3_URL"
fi
export AUDIT_REQUIRE_S3=1
# A throwaway PostgreSQL cluster for the PostgreSQL variants of the database tests, removed on exit. Under this
# script they must run: AUDIT_REQUIRE_POSTGRES=1 makes them fail, not skip, without a server. An AUDIT_TEST_POSTGRES
# given from outside is used as it is.
if [ -z "${AUDIT_TEST_POSTGRES:-}" ]; then
  cluster=$(scripts/throwaway-postgres.sh start)
  pg_dir=${cluster%%$'\t'*}
  export AUDIT_TEST_POSTGRES=${cluster#*$'\t'}
  echo "PostgreSQL for the tests: $AUDIT_TEST_POSTGRES"
fi
export AUDIT_REQUIRE_POSTGRES=1
# libtorch's OpenMP workers spin while they wait for work (libgomp's default). Beside the other test process on two
# cores the spinning workers took a third of the machine (perf, 2026-12-02), and training the BadNets fixture took 140 s
# instead of 20 s beside one busy core (35 s against 17 s idle); asleep instead of spinning, they give the cores back.
# Numbers do not change (the fixture's weights are bit for bit the same), only who waits how (docs/benchmarks.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# The model zoo's CI slice (issue #13): trains the test split's first clean and first backdoored model from their fixed
# seeds and checks trojan-likelihood ranks and flags them, so a regression of the verdict probe shows in CI.
export AUDIT_TROJAN_SLICE=${AUDIT_TROJAN_SLICE:-1}

# Build once, then run the test projects side by side. `dotnet test Audit.sln` runs them one after another, and the
# two long ones (Audit.Evaluators.Tests, Audit.Api.Tests) are mostly single-threaded (libtorch at one thread in the
# native-state collection): one after another they left one of the two cores idle for most of the run. Fixtures are
# shared through the fixture cache, whose lock makes a second process wait for the first one's training.
logs=$(mktemp -d)
status=0
dotnet build Audit.sln -nologo -v q || exit $?
# libtorch's convolution kernels on this machine (docs/operations.md, "Convolution kernels: the start-up check"): the
# service chooses oneDNN's instruction set at start (default, else AVX2, else AVX: the first that passes the
# convolution check), but a test process starts many hosts and runs probes outside them, so the suite takes the same
# choice once here (the zoo tool's choose-kernels, the service's own code) and exports it. Without it every test
# process would turn oneDNN off where its default kernels are wrong, which is right but made the suite 1.5× slower on
# such a machine. ConvolutionKernelCheckTests and RealProcessTests still start processes without the setting, so the
# fallback and the service's own choice are tested there.
zoo=tests/Audit.Evaluators.Tests/bin/Debug/net10.0/Audit.ModelZoo.dll
if [ -z "${ONEDNN_MAX_CPU_ISA:-}" ] && [ -f "$zoo" ]; then
  limit=$(dotnet "$zoo" choose-kernels 2>"$logs/kernels.txt") || limit=""
  if [ -n "$limit" ]; then
    export ONEDNN_MAX_CPU_ISA=$limit
    echo "The tests run on oneDNN's $limit kernels (ONEDNN_MAX_CPU_ISA=$limit), as the service would choose here: $(cat "$logs/kernels.txt")"
  fi
fi
# Each run: a name for its log lines, the project, and a test filter ("" for every test). Audit.Evaluators.Tests runs
# its tests one at a time (libtorch's process-wide state, NativeTorch) and was the suite's critical path: about 19 of
# its 21 minutes on two cores, the other projects done by 16. Its slowest, self-contained classes (the zoo's CI slice
# and recipe tests, the deception survey's CI slice, the contrastive search's tests: about a third of its time) run
# in a second process over the complementary filter, so every test runs exactly once. Only without extra arguments:
# a caller's own --filter is passed through to one run of each project.
slow_evaluators="FullyQualifiedName~Audit.Evaluators.Tests.ModelZoo.|FullyQualifiedName~Audit.Evaluators.Tests.Probes.DeceptionSurvey|FullyQualifiedName~Audit.Evaluators.Tests.Probes.ContrastivePatchInversionProbeTests"
if [ $# -eq 0 ]; then
  rest_of_evaluators=$(echo "$slow_evaluators" | sed 's/~/!~/g; s/|/\&/g')
  runs=("Audit.Api.Tests|tests/Audit.Api.Tests|"
        "Audit.Evaluators.Tests|tests/Audit.Evaluators.Tests|$rest_of_evaluators"
        "Audit.Evaluators.Tests(slow)|tests/Audit.Evaluators.Tests|$slow_evaluators"
        "Audit.Worker.Tests|tests/Audit.Worker.Tests|"
        "Audit.Cli.Tests|tests/Audit.Cli.Tests|"
        "Audit.Domain.Tests|tests/Audit.Domain.Tests|")
else
  runs=()
  for project in tests/Audit.Api.Tests tests/Audit.Evaluators.Tests tests/Audit.Worker.Tests tests/Audit.Cli.Tests tests/Audit.Domain.Tests; do
    runs+=("$(basename "$project")|$project|")
  done
fi
pids=()
for run in "${runs[@]}"; do
  IFS='|' read -r name project filter <<<"$run"
  filter_arguments=()
  [ -n "$filter" ] && filter_arguments=(--filter "$filter")
  # Each run's lines carry its name, since the outputs interleave.
  (set -o pipefail; dotnet test "$project" --no-build "${filter_arguments[@]}" "$@" 2>&1 | sed -u "s/^/[$name] /" | tee "$logs/$name.test.log") &
  pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || status=$?
done
log="$logs/all.log"
cat "$logs"/*.test.log > "$log"

# One closing line over all test projects, in the plain form CI reads.
awk '/(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+, +Skipped: +[0-9]+/ {
  for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
} END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -rf "$logs"
exit $status
