#!/usr/bin/env bash
# Regenerates the C# client in clients/Audit.Client from the OpenAPI document the service serves.
# Starts the service (dotnet run, on a free local port, with a throw-away data directory), saves /openapi/v1.json as
# clients/Audit.Client/openapi.json (the snapshot the drift test compares with the live document), then runs Kiota
# (local tool, .config/dotnet-tools.json) into clients/Audit.Client/Generated.
# Usage: scripts/generate-client.sh                 regenerate from the running code
#        scripts/generate-client.sh --offline       regenerate from the committed snapshot only (no service start)
#        scripts/generate-client.sh --offline --output DIR
#                                                   generate into DIR instead (the drift test compares it with Generated/)
set -euo pipefail
cd "$(dirname "$0")/.."

client=clients/Audit.Client
snapshot=$client/openapi.json
output=$client/Generated
offline=false
while [ $# -gt 0 ]; do
  case "$1" in
    --offline) offline=true; shift ;;
    --output) output=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ "$offline" != true ]; then
  data=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  dotnet build src/Audit.Api -v quiet -nologo >/dev/null
  dotnet run --project src/Audit.Api --no-build -- --urls "http://127.0.0.1:$port" --Audit:DataDirectory "$data" \
    --Audit:Worker:Enabled false >"$data/service.log" 2>&1 &
  service=$!
  trap 'kill "$service" 2>/dev/null || true; wait "$service" 2>/dev/null || true; rm -rf "$data"' EXIT
  for _ in $(seq 1 180); do
    if curl -fsS "http://127.0.0.1:$port/openapi/v1.json" -o "$data/openapi.json" 2>/dev/null; then break; fi
    kill -0 "$service" 2>/dev/null || { cat "$data/service.log"; exit 1; }
    sleep 1
  done
  [ -s "$data/openapi.json" ] || { echo "The service did not serve /openapi/v1.json" >&2; cat "$data/service.log"; exit 1; }
  # The servers entry names the port this run happened to get; the client takes its base address at run time.
  python3 - "$data/openapi.json" "$snapshot" <<'PY'
import json, sys
document = json.load(open(sys.argv[1], encoding="utf-8"))
document.pop("servers", None)
with open(sys.argv[2], "w", encoding="utf-8", newline="\n") as out:
    json.dump(document, out, indent=2, ensure_ascii=False)
    out.write("\n")
PY
fi

dotnet tool restore >/dev/null
# No update check against GitHub: generation must not depend on reaching it.
export KIOTA_OFFLINE_ENABLED=true
rm -rf "$output"
# -m: Kiota types a download as a stream only when its media type is listed; otherwise an operation that may also
# answer 304 (reports, evidence, artifact content) is generated without a return value.
dotnet kiota generate --language CSharp --openapi "$snapshot" --output "$output" \
  --namespace-name Audit.Client --class-name AuditApiClient --exclude-backward-compatible \
  -m "application/json" -m "text/plain;q=0.9" -m "multipart/form-data;q=0.1" -m "application/pdf;q=0.1" \
  -m "image/png;q=0.1" -m "application/octet-stream;q=0.1" -m "text/event-stream;q=0.1" \
  --log-level Warning
# Kiota's lock file records the absolute path of the description; keep the committed one machine-independent.
sed -i 's#"descriptionLocation": ".*"#"descriptionLocation": "../openapi.json"#' "$output/kiota-lock.json"
rm -f "$output/.kiota.log"
echo "Generated $output from $snapshot"
