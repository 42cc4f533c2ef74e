#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster in a temporary folder and prints its connection string; stop it with
# `scripts/throwaway-postgres.sh stop FOLDER`. Source-free on purpose: scripts/test.sh and a developer use it alike.
#   dir_and_cs=$(scripts/throwaway-postgres.sh start)   # -> "FOLDER<TAB>CONNECTION STRING"
# The cluster runs as an unprivileged user (nobody when started as root: PostgreSQL refuses to run as root), listens
# on a free TCP port on 127.0.0.1 and on a unix socket inside the folder, trusts local connections (it holds only
# test data and lives as long as the tests), and uses the C locale so text sorts by bytes as on SQLite.
set -euo pipefail

bin=${POSTGRES_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found (install Debian's postgresql package)" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u nobody -- "$@"; else "$@"; fi
}

free_port() {
  local port
  for port in $(seq 15432 15532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  echo "no free port in 15432-15532" >&2; exit 1
}

case "${1:-}" in
  start)
    dir=$(mktemp -d /tmp/audit-postgres.XXXXXX)
    chmod 755 "$dir"
    [ "$(id -u)" -ne 0 ] || chown nobody "$dir"
    port=$(free_port)
    as_owner "$bin/initdb" -D "$dir/data" -U audit --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
    printf '%s\tHost=%s;Port=%s;Username=audit;Database=postgres\n' "$dir" "$dir" "$port"
    ;;
  stop)
    dir=${2:?folder}
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start | stop FOLDER" >&2; exit 2
    ;;
esac
