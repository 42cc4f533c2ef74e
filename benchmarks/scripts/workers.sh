#!/usr/bin/env bash
# Audits per minute with 1, 2 and 3 worker processes (src/Audit.Worker) behind one API whose own workers are off, and
# the latency of GET /api/v1/audits/{id} (p50/p99, one sequential client) while they run.
# Usage: benchmarks/scripts/workers.sh [audits per run] [worker counts...]     (defaults: 30 audits; 1 2 3 workers)
# Env: AUDIT_BENCH_PROFILE (default trojan-scan), AUDIT_BENCH_MODEL (default examples/fashion-cnn-clean.onnx),
#      AUDIT_BENCH_DATASET (default none: the trojan scan then runs only the model inventory, so an audit is mostly the
#      service's own work: claim, model load, store, render, sign and log the report), AUDIT_BENCH_CONFIGURATION (Debug),
#      and the Audit__* variables of docs/operations.md (e.g. Audit__Database__Provider=PostgreSQL) for other backends.
# Each run starts from an empty data folder; the workers are started and ready before the audits are submitted, and the
# clock runs from the first submission to the moment the reader first sees the last audit ended (the reader visits
# every audit in turn, so the end is late by at most one round of GETs).
set -euo pipefail
cd "$(dirname "$0")/../.."
audits=${1:-30}
shift || true
if [ $# -gt 0 ]; then counts=("$@"); else counts=(1 2 3); fi
profile=${AUDIT_BENCH_PROFILE:-trojan-scan}
model=${AUDIT_BENCH_MODEL:-examples/fashion-cnn-clean.onnx}
dataset=${AUDIT_BENCH_DATASET:-}
configuration=${AUDIT_BENCH_CONFIGURATION:-Debug}
port=${AUDIT_BENCH_PORT:-5098}
base=http://127.0.0.1:$port
pids=()
root=$(mktemp -d)
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$root"
}
trap cleanup EXIT

dotnet build -c "$configuration" src/Audit.Worker -v q -nologo >/dev/null
api_dll=src/Audit.Api/bin/$configuration/net10.0/Audit.Api.dll
worker_dll=src/Audit.Worker/bin/$configuration/net10.0/Audit.Worker.dll
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

echo "machine: $(nproc) cores; uptime before: $(uptime)"
printf '| workers | audits | wall (s) | audits/min | GET p50 (ms) | GET p99 (ms) | GETs | load avg (1 min) during |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---|\n'
for n in "${counts[@]}"; do
  data=$root/run-$n
  mkdir -p "$data"
  export Audit__DataDirectory=$data/data Audit__Device=cpu Audit__PublicBaseUrl=$base Audit__Worker__PollInterval=00:00:00.250
  dotnet "$api_dll" --urls "$base" --Audit:Worker:Enabled false >"$data/api.log" 2>&1 &
  api=$!
  pids+=("$api")
  for _ in $(seq 1 240); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.5; done
  key=$(cat "$data/data/dev-keys/compliance.key")
  m=$(curl -sf -H "X-Api-Key: $key" -F kind=model -F "file=@$model" $base/api/v1/artifacts | field '["id"]')
  body="{\"modelArtifactId\":\"$m\",\"profileId\":\"$profile\"}"
  if [ -n "$dataset" ]; then
    d=$(curl -sf -H "X-Api-Key: $key" -F kind=dataset -F "file=@$dataset" $base/api/v1/artifacts | field '["id"]')
    body="{\"modelArtifactId\":\"$m\",\"datasetArtifactId\":\"$d\",\"profileId\":\"$profile\"}"
  fi

  workers=()
  for i in $(seq 1 "$n"); do
    dotnet "$worker_dll" >"$data/worker-$i.log" 2>&1 &
    workers+=($!)
    pids+=($!)
  done
  for i in $(seq 1 "$n"); do
    for _ in $(seq 1 240); do grep -q "Audit worker .* started" "$data/worker-$i.log" && break; sleep 0.5; done
  done

  # One Python process submits the audits at once, then reads them round-robin with one sequential client (as a
  # dashboard would), timing every GET, until all have ended; it prints the table row.
  python3 - "$base" "$key" "$body" "$audits" "$n" <<'PY'
import json, os, sys, time, urllib.request
base, key, body, audits, n = sys.argv[1], sys.argv[2], sys.argv[3].encode(), int(sys.argv[4]), int(sys.argv[5])
def call(path, data=None):
    req = urllib.request.Request(base + path, data=data, headers={"X-Api-Key": key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)
start = time.monotonic()
ids = [call("/api/v1/audits", body)["id"] for _ in range(audits)]
latencies, loads, ended = [], [], {}
while len(ended) < audits:
    for i in ids:
        t = time.monotonic()
        a = call(f"/api/v1/audits/{i}")
        latencies.append((time.monotonic() - t) * 1000)
        if a["status"] in ("succeeded", "failed", "cancelled"):
            ended.setdefault(i, (a["status"], time.monotonic()))
    loads.append(os.getloadavg()[0])
wall = max(t for _, t in ended.values()) - start
failed = sum(s != "succeeded" for s, _ in ended.values())
latencies.sort()
pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print(f"| {n} | {audits} | {wall:.1f} | {audits * 60 / wall:.1f} | {pct(0.5):.1f} | {pct(0.99):.1f} | {len(latencies)} | {min(loads):.1f}–{max(loads):.1f} |"
      + (f" ({failed} did not succeed)" if failed else ""))
PY

  for w in "${workers[@]}" "$api"; do kill "$w" 2>/dev/null || true; wait "$w" 2>/dev/null || true; done
  unset Audit__DataDirectory
done
echo "uptime after: $(uptime)"
