#!/usr/bin/env bash
# Two builds side by side on one throwaway PostgreSQL, rounds taking turns (ABBA), so the machine's
# drift falls on both: enqueue + run (stagedoor-bench, 32 producers, coalesced NOTIFY), the drain of a
# backlog (batch 100 × 2 loops), enqueue → start at a paced 1,000 jobs/s (p50 and p99, coalesced) and
# reservations/s (wrk's closed loop, 64 connections, a one-loop gateway and a payment worker on a
# fresh database).
#   scripts/ab.sh BIN_A BIN_B     each a folder of release binaries (swift build -c release --show-bin-path)
# ROUNDS (3), WRK_SECONDS (10), JOBS (50000) and BACKLOG (200000) set the size. Prints a table and each
# side's medians.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
pg_ensure_installed
a=$1 b=$2 rounds=${ROUNDS:-3}
dir=$(mktemp -d /tmp/stagedoor-ab-pg.XXXXXX)
chmod 755 "$dir"
port=$(pg_free_port)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pg_stop "$dir/data"; rm -rf "$dir"; }
trap cleanup EXIT
pg_start "$dir/data" "$port" max_connections=200 shared_buffers=512MB
server="postgres://postgres@127.0.0.1:$port"
psql_db() { "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d "$1" -qAt -c "$2"; }

jobs_rate() {  # jobs_rate BIN → enqueue + run jobs/s, 32 producers, coalesced
  "$1/stagedoor-bench" --server-url "$server/postgres" --scenarios enqueue --producers 32 --rounds 1 --jobs "${JOBS:-50000}" |
    awk -F'|' '/NOTIFY coalesced/ { gsub(/ /, "", $4); print $4; exit }'
}

drain_rate() {  # drain_rate BIN → jobs/s draining a backlog, batch 100 × 2 loops
  "$1/stagedoor-bench" --server-url "$server/postgres" --scenarios backlog --jobs "${BACKLOG:-200000}" --batch 100 --concurrency 2 |
    awk -F'|' '/run only/ { gsub(/ /, "", $4); print $4; exit }'
}

paced_latency() {  # paced_latency BIN → "p50 p99" in ms, enqueue → start at 1,000 jobs/s, coalesced
  "$1/stagedoor-bench" --server-url "$server/postgres" --scenarios paced |
    awk -F'|' '/paced .*coalesced/ { gsub(/ ms| /, "", $6); gsub(/ ms| /, "", $7); print $6, $7; exit }'
}

booking_rate() {  # booking_rate BIN DB → reservations/s, closed loop
  local bin=$1 db=$2 gw_port
  pg_createdb "$port" "$db"
  gw_port=$(pg_free_port)
  DATABASE_URL="$server/$db" PORT=$gw_port EVENT_LOOPS=1 DB_POOL_SIZE=32 LOG_LEVEL=warning "$bin/stagedoor-gateway" > "$dir/gw-$db.log" 2>&1 &
  local gw=$!; pids+=("$gw")
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$gw_port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  DATABASE_URL="$server/$db" WORKER_BATCH=64 LOG_LEVEL=warning "$bin/stagedoor-payment-worker" > "$dir/pw-$db.log" 2>&1 &
  local pw=$!; pids+=("$pw")
  sleep 1
  local load=("$bin/stagedoor-load" reserve --url "http://127.0.0.1:$gw_port" --database-url "$server/$db")
  "${load[@]}" --connections 64 --seconds 3 --fixtures warm > /dev/null 2>&1
  "${load[@]}" --seconds 0 --fixtures closed > /dev/null
  local schedules
  schedules=$(psql_db "$db" "SELECT string_agg(s.id::text, ',' ORDER BY s.id) FROM schedules s JOIN concerts c ON c.id = s.concert_id WHERE c.title = 'closed'")
  psql_db "$db" "VACUUM ANALYZE"; psql_db "$db" "CHECKPOINT"
  THREADS=2 PREFIX=closed USERS=20000 SCHEDULES=$schedules \
    wrk -t2 -c64 -d"${WRK_SECONDS:-10}s" -s scripts/wrk/reserve.lua "http://127.0.0.1:$gw_port" 2>/dev/null |
    awk '/^Requests\/sec:/ { printf "%d\n", $2 }'
  kill "$gw" "$pw" 2>/dev/null; wait "$gw" "$pw" 2>/dev/null || true
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| round | build | enqueue + run, jobs/s | drain, jobs/s | paced p50 / p99, ms | reservations/s |"
echo "|---:|---|---:|---:|---:|---:|"
: > "$dir/a.txt"; : > "$dir/b.txt"
for round in $(seq 1 "$rounds"); do
  # Odd rounds run a first, even rounds b first: whatever the second place costs or gains (a warmer
  # cache, a checkpoint) falls on both.
  order="a b"; [ $((round % 2)) = 0 ] && order="b a"
  for side in $order; do
    bin=$a; [ "$side" = b ] && bin=$b
    j=$(jobs_rate "$bin"); d=$(drain_rate "$bin"); read -r p50 p99 < <(paced_latency "$bin"); r=$(booking_rate "$bin" "ab_${side}_$round")
    echo "$j $r $d $p50 $p99" >> "$dir/$side.txt"
    echo "| $round | $side: $bin | $j | $d | $p50 / $p99 | $r |"
  done
done
for side in a b; do
  echo "- $side: median enqueue + run $(awk '{ print $1 }' "$dir/$side.txt" | median) jobs/s, drain $(awk '{ print $3 }' "$dir/$side.txt" | median) jobs/s, paced p50 $(awk '{ print $4 }' "$dir/$side.txt" | median) ms / p99 $(awk '{ print $5 }' "$dir/$side.txt" | median) ms, reservations $(awk '{ print $2 }' "$dir/$side.txt" | median)/s"
done
