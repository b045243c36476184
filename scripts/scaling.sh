#!/usr/bin/env bash
# The scaling table (`make scaling`): end-to-end reservations/s on distinct seats through the local
# topology (nginx in front), for 1 and 3 gateways × 1, 2 and 3 payment workers, each on a fresh
# PostgreSQL. Beside each figure: where the CPU went (seconds of CPU per second of run, by process
# kind), the machine's idle share, Postgres commits/s — which say where it saturates — and the
# connections PostgreSQL serves. PGBOUNCER=1 runs every case with the pooled connections through
# PgBouncer in transaction mode (see deploy/local/stagedoor-local.sh).
set -euo pipefail
# Each open live-update stream is a connection: let the gateways hold many (up to the hard limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$(dirname "$0")/.."
. scripts/postgres.sh
pg_ensure_installed

seconds=${SCALING_SECONDS:-10}
export STAGEDOOR_LOCAL_DIR=$PWD/.run/scaling
export PORT=$(pg_free_port)
export QUEUE_WORKERS=1 LOG_LEVEL=warning
local=deploy/local/stagedoor-local.sh
swift build -c release > /dev/null 2>&1
bin=$(swift build -c release --show-bin-path)

# CPU ticks (utime + stime) of every process whose command line matches $1.
ticks_of() {
  local total=0 pid
  for pid in $(pgrep -f "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
idle_ticks() { awk '/^cpu / { print $5 + $6 }' /proc/stat; }
all_ticks() { awk '/^cpu / { s = 0; for (i = 2; i <= NF; i++) s += $i; print s }' /proc/stat; }
kinds=("stagedoor-gateway" "stagedoor-payment-worker" "postgres:" "nginx: worker")
hz=$(getconf CLK_TCK)

rows=()
for gateways in 1 3; do
  for workers in 1 2 3; do
    rm -rf "$STAGEDOOR_LOCAL_DIR"
    DEMO_CONCERT=0 GATEWAYS=$gateways PAYMENT_WORKERS=$workers $local up > /dev/null
    . "$STAGEDOOR_LOCAL_DIR/topology.env"
    # The measuring tools go to PostgreSQL directly, past any pooler.
    direct=$DATABASE_DIRECT_URL
    commits() { "$PG_BIN/psql" "$direct" -qAt -c "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }
    backends() { "$PG_BIN/psql" "$direct" -qAt -c "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"; }
    # Fixtures (users with active tokens, seats) and a 2 s warm-up, outside the measured window.
    load() { "$bin/stagedoor-load" reserve --url "http://127.0.0.1:$PORT" --database-url "$direct" --connections 64 --fixtures scaling "$@"; }
    load --seconds 2 > /dev/null 2>&1
    before=(); for k in "${kinds[@]}"; do before+=("$(ticks_of "$k")"); done
    idle0=$(idle_ticks); all0=$(all_ticks); c0=$(commits)
    out=$(load --seconds "$seconds" 2>/dev/null)
    idle1=$(idle_ticks); all1=$(all_ticks); c1=$(commits); connections=$(backends)
    cpu="" known=0
    for i in "${!kinds[@]}"; do
      after=$(ticks_of "${kinds[$i]}")
      cpu+=$(awk -v a="$after" -v b="${before[$i]}" -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%.2f | ", (a - b) / hz / s }')
      known=$((known + after - before[i]))
    done
    # The rest of the busy CPU: the load generator (which starts and ends inside the window, so it
    # cannot be sampled like the others), the queue worker and the kernel.
    cpu+=$(awk -v i0="$idle0" -v i1="$idle1" -v a0="$all0" -v a1="$all1" -v k="$known" -v hz="$hz" -v s="$seconds" \
      'BEGIN { printf "%.2f | ", ((a1 - a0) - (i1 - i0)) / hz / s - k / hz / s }')
    line=$(echo "$out" | awk -F'|' '/^\| POST \/v1\/reservations/ { gsub(/ /, "", $4); gsub(/ /, "", $5); gsub(/ /, "", $7); print $4 " | " $5 " | " $7 }')
    idle=$(awk -v i0="$idle0" -v i1="$idle1" -v a0="$all0" -v a1="$all1" 'BEGIN { printf "%.0f %%", 100 * (i1 - i0) / (a1 - a0) }')
    rows+=("| $gateways | $workers | $line | $cpu$idle | $(( (c1 - c0) / seconds )) | $connections |")
    $local down > /dev/null
  done
done

through=""
[ "${PGBOUNCER:-0}" = 1 ] && through=", pooled connections through PgBouncer (transaction mode, ${PGBOUNCER_POOL_SIZE:-20} server connections)"
echo "### Scaling — $(date -u +%F), $(nproc) cores, everything on one machine (nginx, gateways, 1 queue worker, payment workers, PostgreSQL, stagedoor-load 64 connections, ${seconds} s each)$through"
echo
echo "| gateways | payment workers | reservations/s | p50 ms | p99 ms | CPU s/s: gateways | payment workers | postgres | nginx | rest (load generator, queue worker, kernel) | idle | commits/s | PostgreSQL connections |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
