#!/usr/bin/env bash
# The benchmark command: a throwaway PostgreSQL with default durability (fsync on), pgbench's
# single-row INSERT rate as the yardstick, then stagedoor-bench. Prints Markdown tables.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
pg_ensure_installed

swift build -c release --product stagedoor-bench >/dev/null
bin=$(swift build -c release --show-bin-path)

dir=$(mktemp -d /tmp/stagedoor-bench-pg.XXXXXX)
chmod 755 "$dir"
port=$(pg_free_port)
cleanup() { pg_stop "$dir/data"; rm -rf "$dir"; }
trap cleanup EXIT
pg_start "$dir/data" "$port" max_connections=200 shared_buffers=512MB
url="postgres://postgres@127.0.0.1:$port/postgres"

# pgbench: one single-row INSERT per transaction, 32 clients, 15 s.
"$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE TABLE pgbench_single (id bigserial PRIMARY KEY, v int NOT NULL)"
echo "INSERT INTO pgbench_single (v) VALUES (1);" > "$dir/insert.sql"
tps=$("$PG_BIN/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c 32 -j 2 -T "${PGBENCH_SECONDS:-15}" -f "$dir/insert.sql" postgres 2>/dev/null |
  awk '/^tps = / { print $3; exit }')
echo "pgbench single-row INSERT at 32 clients: $tps tps" >&2

"$bin/stagedoor-bench" --server-url "$url" --pgbench-tps "$tps" "$@"
