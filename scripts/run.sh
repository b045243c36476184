#!/usr/bin/env bash
# The run command: PostgreSQL (a local data dir in .data/ when DATABASE_URL is unset), a release
# build, then gateway + queue worker + payment worker in the foreground. Ctrl-C stops all of it.
set -euo pipefail
# Each open live-update stream is a connection: let the gateways hold many (up to the hard limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$(dirname "$0")/.."
. scripts/postgres.sh
. scripts/demo.sh

export PORT=${PORT:-8080}
export ADMIN_KEY=${ADMIN_KEY:-local-admin-key}
queue_metrics=${QUEUE_WORKER_METRICS_PORT:-9101}
payment_metrics=${PAYMENT_WORKER_METRICS_PORT:-9102}
pids=()
start() {  # start NAME ENV… : runs bin/stagedoor-NAME with its output prefixed by its name
  local name=$1; shift
  env "$@" "$bin/stagedoor-$name" > >(sed -u "s/^/[$name] /") 2>&1 &
  pids+=($!)
}

stop() {
  trap - INT TERM EXIT
  echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$started_pg" ]; then pg_stop_replicas "$PWD/.data"; pg_stop "$started_pg"; fi
  echo "stopped."
}
# Set before anything starts: Ctrl-C during the build must stop the PostgreSQL started below too
# (it was left running, and the next run refused its data directory).
started_pg=""
trap stop INT TERM EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  pg_ensure_installed
  port=${STAGEDOOR_PG_PORT:-54329}
  pg_start "$PWD/.data/pg" "$port"
  started_pg="$PWD/.data/pg"
  pg_createdb "$port" stagedoor
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/stagedoor"
  echo "PostgreSQL: $DATABASE_URL (data in .data/pg)"
  # REPLICAS=N: N streaming replicas of it, which the gateway reads from (DATABASE_REPLICA_URLS).
  if [ "${REPLICAS:-0}" -gt 0 ]; then
    pg_start_replicas "$PWD/.data" "$port" "$REPLICAS" stagedoor
    export DATABASE_REPLICA_URLS=$PG_REPLICA_URLS
    echo "replicas: $DATABASE_REPLICA_URLS"
  fi
fi

echo "building (release)…"
swift build -c release --product stagedoor-gateway >/dev/null
swift build -c release --product stagedoor-queue-worker >/dev/null
swift build -c release --product stagedoor-payment-worker >/dev/null
bin=$(swift build -c release --show-bin-path)


start queue-worker METRICS_PORT=$queue_metrics
start payment-worker METRICS_PORT=$payment_metrics
start gateway

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
  seed_demo_concert "http://127.0.0.1:$PORT" "$ADMIN_KEY"
  echo
  echo "Stagedoor is up: http://127.0.0.1:$PORT   (admin key: $ADMIN_KEY; metrics: gateway /metrics, workers :$queue_metrics and :$payment_metrics)"
  echo "Ctrl-C stops everything."
else
  echo "the gateway did not become ready; see the log lines above" >&2
fi
wait -n "${pids[@]}" || true
