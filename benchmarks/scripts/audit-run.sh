#!/usr/bin/env bash
# Measures one audit through the real service: wall time from submission to a finished audit, the service's
# peak resident memory (VmHWM), its CPU seconds (user + system) from submission to the end (on a shared machine the wall
# time measures the other processes too), and the size in bytes of the GET /api/v1/audits/{id} answer.
# Usage: benchmarks/scripts/audit-run.sh [profile] [model.onnx] [dataset]
# Defaults: eu-ai-act-art15, examples/fashion-cnn-badnets.onnx, examples/fashion-mnist-1000.safetensors.
# AUDIT_BENCH_REPEAT (default 1): audits run one after another in the same service, each reported (audit=1, 2, …).
# AUDIT_BENCH_PROFILE_VERSION (default: the newest) audits against that version of the profile, e.g. 1.0.0 for the
# four-probe trojan-scan.
# AUDIT_BENCH_MAX_S (default: none) stops waiting after that many seconds and reports the audit as it stands
# (status=running, with the findings finished by then).
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${1:-eu-ai-act-art15}
model=${2:-examples/fashion-cnn-badnets.onnx}
dataset=${3:-examples/fashion-mnist-1000.safetensors}
port=${AUDIT_BENCH_PORT:-5097}
data=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT

dotnet build -c Release src/Audit.Api -v q -nologo >/dev/null
dll=src/Audit.Api/bin/Release/net10.0/Audit.Api.dll
dotnet "$dll" --urls "http://127.0.0.1:$port" --Audit:DataDirectory "$data" >"$data/service.log" 2>&1 &
pid=$!
base=http://127.0.0.1:$port
# Up to 5 minutes: a cold Release start on a loaded 2-core machine took over a minute.
for _ in $(seq 1 600); do curl -sf "$base/health/ready" >/dev/null && break; sleep 0.5; done
key=$(cat "$data/dev-keys/compliance.key")
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
m=$(curl -sf -H "X-Api-Key: $key" -F kind=model -F name=bench -F "file=@$model" $base/api/v1/artifacts | id_of)
d=$(curl -sf -H "X-Api-Key: $key" -F kind=dataset -F "file=@$dataset" $base/api/v1/artifacts | id_of)
cpu_ticks() { awk '{print $14 + $15}' /proc/$pid/stat; }
# AUDIT_BENCH_REPEAT=N (default 1) runs the audit N times, one after another, in the same service: the first audit
# after a start also pays for compiling the probes' code (.NET's tiered JIT), the later ones show a warm service.
for run in $(seq 1 "${AUDIT_BENCH_REPEAT:-1}"); do
  # The previous audit's report is issued just after its status turns final; let that finish outside the measurement.
  if [ "$run" -gt 1 ]; then sleep 3; fi
  cpu_start=$(cpu_ticks)
  start=$(date +%s.%N)
  max_s=${AUDIT_BENCH_MAX_S:-0}
  version=${AUDIT_BENCH_PROFILE_VERSION:+,\"profileVersion\":\"$AUDIT_BENCH_PROFILE_VERSION\"}
  a=$(curl -sf -H "X-Api-Key: $key" -H 'Content-Type: application/json' \
    -d "{\"modelArtifactId\":\"$m\",\"datasetArtifactId\":\"$d\",\"profileId\":\"$profile\"$version}" $base/api/v1/audits | id_of)
  while true; do
    # grep, not python: a python start per poll cost about a tenth of a core, which the audit's two lanes need.
    status=$(curl -sf -H "X-Api-Key: $key" $base/api/v1/audits/$a | grep -o '"status":"[a-z]*"' | head -1 | cut -d'"' -f4)
    case $status in queued|running) sleep 0.5 ;; *) break ;; esac
    if [ "$max_s" != 0 ] && [ "$(echo "$(date +%s.%N) - $start > $max_s" | bc)" = 1 ]; then break; fi
  done
  end=$(date +%s.%N)
  cpu_s=$(echo "($(cpu_ticks) - $cpu_start) / $(getconf CLK_TCK)" | bc -l)
  bytes=$(curl -sf -H "X-Api-Key: $key" $base/api/v1/audits/$a | wc -c)
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  verdict=$(curl -sf -H "X-Api-Key: $key" $base/api/v1/audits/$a | python3 -c 'import json,sys; print(json.load(sys.stdin).get("verdict"))')
  curl -sf -H "X-Api-Key: $key" $base/api/v1/audits/$a | python3 -c '
import json,sys
for f in json.load(sys.stdin).get("findings") or []:
    print("  finding %s %s score=%s: %s" % (f.get("probe"), f.get("verdict"), f.get("score"), (f.get("summary") or "")[:160]))'
  printf 'audit=%s profile=%s%s model=%s status=%s verdict=%s wall_s=%.1f cpu_s=%.1f peak_rss_mib=%.0f get_audit_bytes=%s load=%s\n' \
    "$run" "$profile" "${AUDIT_BENCH_PROFILE_VERSION:+@$AUDIT_BENCH_PROFILE_VERSION}" "$(basename "$model")" "$status" "$verdict" "$(echo "$end - $start" | bc)" "$cpu_s" "$(echo "$hwm / 1024" | bc -l)" "$bytes" "$(cut -d' ' -f1-3 /proc/loadavg)"
done
