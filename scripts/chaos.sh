#!/usr/bin/env bash
# The chaos command (`make chaos`): the local topology (3 gateways behind nginx, 2 queue workers,
# 3 payment workers, its own PostgreSQL), a flash crowd of U users playing the whole journey, and
# meanwhile a random gateway or worker SIGKILLed and started again every few seconds, and
# PostgreSQL restarted once. Then the invariants are checked over the database and the clients'
# records. Exits non-zero when one breaks.
#
#   U=20000 scripts/chaos.sh        (U users; CHAOS_EVERY=4 seconds between kills; SEED=… for the victims;
#                                    PGBOUNCER=1: the pooled connections through PgBouncer, transaction mode;
#                                    REPLICAS=N: N streaming replicas the gateways read from, killed in turn too)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh

users=${U:-20000}
every=${CHAOS_EVERY:-4}
RANDOM=${SEED:-$$}
export STAGEDOOR_LOCAL_DIR=$PWD/.run/chaos
export PORT=${CHAOS_PORT:-$(pg_free_port)}
export STAGEDOOR_PG_PORT=$(pg_free_port) STAGEDOOR_PGBOUNCER_PORT=$(pg_free_port)
unset DATABASE_URL
# Admission at what the booking side of this 2-core machine serves while everything else runs
# (the waiting room's whole point: at 400/s the admitted fans alone overload it and answers take
# minutes), and room for all: a fan who finds the show sold out keeps an active slot until
# ACTIVE_TTL, as a real one would.
export ADMIT_PER_SECOND=${ADMIT_PER_SECOND:-100} MAX_ACTIVE=${MAX_ACTIVE:-$users} LOG_LEVEL=${LOG_LEVEL:-warning}
export ADMIN_KEY=chaos-admin-key
local=deploy/local/stagedoor-local.sh

rm -rf "$STAGEDOOR_LOCAL_DIR"
DEMO_CONCERT=0 $local up
trap '$local down >/dev/null 2>&1 || true' EXIT
. "$STAGEDOOR_LOCAL_DIR/topology.env"
swift build -c release --product stagedoor-load >/dev/null
bin=$(swift build -c release --show-bin-path)
# The load generator's fixtures and checks go to PostgreSQL directly, past any pooler.
direct=$DATABASE_DIRECT_URL

records=$STAGEDOOR_LOCAL_DIR/records.json
"$bin/stagedoor-load" crowd --url "http://127.0.0.1:$PORT" --database-url "$direct" --users "$users" \
  --arrive-over 30 --admin-key "$ADMIN_KEY" --schedules 20 --seats 1000 --admit-per-second "$ADMIT_PER_SECOND" \
  --records "$records" > "$STAGEDOOR_LOCAL_DIR/crowd.out" &
crowd=$!
# A step that fails (set -e) stops the crowd too, not only the topology.
trap 'kill $crowd 2>/dev/null || true; $local down >/dev/null 2>&1 || true' EXIT

victims=()
for n in $(seq 1 "$GATEWAYS"); do victims+=("gateway-$n"); done
for n in $(seq 1 "$QUEUE_WORKERS"); do victims+=("queue-worker-$n"); done
for n in $(seq 1 "$PAYMENT_WORKERS"); do victims+=("payment-worker-$n"); done
for n in $(seq 1 "${REPLICAS:-0}"); do victims+=("replica-$n"); done
kills=0
pg_restarted=no
declare -A killed=()
started=$(date +%s)
while kill -0 "$crowd" 2>/dev/null; do
  sleep "$every"
  kill -0 "$crowd" 2>/dev/null || break
  if [ "$pg_restarted" = no ] && [ $(( $(date +%s) - started )) -ge "${CHAOS_PG_AFTER:-20}" ]; then
    echo "chaos: restarting PostgreSQL" >&2
    $local restart-postgres
    pg_restarted=yes
    continue
  fi
  victim=${victims[$((RANDOM % ${#victims[@]}))]}
  echo "chaos: SIGKILL $victim" >&2
  $local kill "$victim"
  kills=$((kills + 1))
  killed[$victim]=$(( ${killed[$victim]:-0} + 1 ))
  sleep 1
  $local start "$victim"
done
crowd_status=0
wait "$crowd" || crowd_status=$?
elapsed=$(( $(date +%s) - started ))

cat "$STAGEDOOR_LOCAL_DIR/crowd.out"
echo
through=""
[ "${PGBOUNCER:-0}" = 1 ] && through=", through PgBouncer (transaction mode)"
[ "${REPLICAS:-0}" -gt 0 ] && through="$through, $REPLICAS streaming replicas"
echo "### Chaos — $(date -u '+%F %H:%M UTC'), $(nproc) cores, U=$users, ${elapsed}s$through"
echo
echo "SIGKILLs: $kills ($(for k in "${!killed[@]}"; do printf '%s×%s ' "$k" "${killed[$k]}"; done)); PostgreSQL restarted: $pg_restarted"
echo
if [ "${REPLICAS:-0}" -gt 0 ]; then
  # Reads the replicas answered since their last start (a replica stopped at once loses its counts).
  pg_ensure_installed
  IFS=, read -ra replica_urls <<< "$DATABASE_REPLICA_URLS"
  for url in "${replica_urls[@]}"; do
    echo "replica ${url#*@}: $("$PG_BIN/psql" "$url" -qAtc "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()" 2>/dev/null || echo '?') read transactions since its last start"
  done
  echo
fi
check_status=0
"$bin/stagedoor-load" check --database-url "$direct" --records "$records" || check_status=$?
if [ "$crowd_status" != 0 ] || [ "$check_status" != 0 ]; then
  echo "CHAOS FAILED (crowd exit $crowd_status, check exit $check_status); logs in $STAGEDOOR_LOCAL_DIR/logs" >&2
  exit 1
fi
echo "chaos: every invariant held."
