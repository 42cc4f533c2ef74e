#!/usr/bin/env bash
# Installs what the tests need (Debian packages) and runs every test in the solution.
# Usage: scripts/test.sh [extra dotnet test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Real data and real tools, not mocks: Fashion-MNIST for probe fixtures; pdfsig/pdftotext, qpdf and openssl
# to check reports as a regulator would; chromium for the /verify page test.
packages=(dataset-fashion-mnist poppler-utils qpdf openssl chromium)
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
stop_s3rver() {
  if [ -n "$s3rver_pid" ]; then kill "$s3rver_pid" 2>/dev/null || true; wait "$s3rver_pid" 2>/dev/null || true; fi
  if [ -n "$s3rver_dir" ]; then rm -rf "$s3rver_dir"; fi
}
trap stop_s3rver EXIT
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

log=$(mktemp)
status=0
dotnet test Audit.sln "$@" 2>&1 | tee "$log" || status=$?

# One closing line over all test projects, in the plain form CI reads.
awk '/(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+, +Skipped: +[0-9]+/ {
  for (i = 1; i <= NF; i++) { gsub(",", "", $(i+1)); if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
} END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit $status
