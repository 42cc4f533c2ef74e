#!/usr/bin/env bash
# Cost of the four-probe trojan scan against the number of classes and the input size: one process per case (so the
# peak resident memory is that case's), random-weight CNNs written with the project's ONNX writer, 1,000 random inputs,
# run the way an audit runs the probes (ProbeRunner, one evaluation session). Random weights measure cost, not
# detection. Prints one line per case, then the whole trojan-scan audit of the 10-class BadNets example through the
# service (benchmarks/scripts/audit-run.sh).
# Usage: benchmarks/scripts/trojan-scan-cost.sh [--no-service]
# AUDIT_SCAN_CASES="10:1,28,28 100:1,28,28" limits the cases (classes:channels,height,width).
# AUDIT_SCAN_ARGS adds options of the benchmark host: "--audit" runs the six probes of the trojan-scan profile in its
# order instead of the four, "--breakdown" prints wall, CPU and peak memory per probe and per stage. The cases
# docs/benchmarks.md still lacks (run on an idle machine, about 15–25 CPU-minutes in all):
#   AUDIT_SCAN_CASES="43:1,28,28 100:3,32,32 10:3,64,64 43:3,64,64 100:3,64,64" benchmarks/scripts/trojan-scan-cost.sh --no-service
set -euo pipefail
service=${1:-}
cd "$(dirname "$0")/../.."
dotnet build -c Release benchmarks/Audit.Benchmarks -v q -nologo >/dev/null
dll=benchmarks/Audit.Benchmarks/bin/Release/net10.0/Audit.Benchmarks.dll
echo "start $(date -u +%FT%TZ) uptime: $(uptime)"
cases=${AUDIT_SCAN_CASES:-"10:1,28,28 43:1,28,28 100:1,28,28 10:3,32,32 43:3,32,32 100:3,32,32 10:3,64,64 43:3,64,64 100:3,64,64"}
for case in $cases; do
  # Each case's start time and load, for the table in docs/benchmarks.md (the case's own line ends with its end load).
  echo "case $case start $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
  # shellcheck disable=SC2086 # AUDIT_SCAN_ARGS is a list of options
  dotnet "$dll" --trojan-scan --classes "${case%%:*}" --shape "${case#*:}" ${AUDIT_SCAN_ARGS:-}
done
if [ "$service" != "--no-service" ]; then
  benchmarks/scripts/audit-run.sh trojan-scan
fi
echo "end $(date -u +%FT%TZ) uptime: $(uptime)"
