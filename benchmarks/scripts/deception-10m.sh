#!/usr/bin/env bash
# Cost of the eu-gpai-systemic-deception audit on a ~10 M-parameter causal transformer (random weights, seed 1;
# Hugging Face inputs input_ids/attention_mask/position_ids) with evidence whose every sequence is 128 tokens, through
# the real service (benchmarks/scripts/audit-run.sh: wall time, peak RSS, findings).
# Usage: benchmarks/scripts/deception-10m.sh [context=128]   (AUDIT_BENCH_MAX_S caps the wait, see audit-run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
context=${1:-128}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet run -c Release --project benchmarks/Audit.Benchmarks.Deception -- make-transformer "$out" --context "$context"
ls -l "$out"
echo "load before: $(uptime)"
benchmarks/scripts/audit-run.sh eu-gpai-systemic-deception "$out/model.onnx" "$out/evidence.jsonl"
echo "load after: $(uptime)"
