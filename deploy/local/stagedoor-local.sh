#!/usr/bin/env bash
# A one-machine topology on loopback: N gateways behind nginx, K queue workers, M payment workers,
# one PostgreSQL (a local data dir when DATABASE_URL is unset), and with PGBOUNCER=1 a PgBouncer in
# transaction mode that carries the processes' pooled connections (LISTEN sessions, the admission
# leader's lock and migrations stay direct: DATABASE_DIRECT_URL); with REPLICAS=N, N streaming
# replicas of the PostgreSQL it starts (physical slots), which the gateways read from.
#
#   deploy/local/stagedoor-local.sh up        start everything (GATEWAYS=3 QUEUE_WORKERS=2 PAYMENT_WORKERS=3)
#   deploy/local/stagedoor-local.sh down      stop everything (SIGTERM: each process drains)
#   deploy/local/stagedoor-local.sh status    what runs, with pids
#   deploy/local/stagedoor-local.sh kill NAME     SIGKILL one process (gateway-2, queue-worker-1, payment-worker-3),
#                                                 or stop a replica at once (replica-1: immediate shutdown)
#   deploy/local/stagedoor-local.sh start NAME    start one process (or replica) again
#   deploy/local/stagedoor-local.sh restart-postgres
#
# Settings of the processes come from the environment (ADMIT_PER_SECOND, WORKER_BATCH, …);
# PGBOUNCER_POOL_SIZE (20) is PgBouncer's server connections per database.
# State lives in $STAGEDOOR_LOCAL_DIR (default .run/local): pids, logs, nginx config, Postgres data.
set -euo pipefail
# Each open live-update stream is a connection: let the gateways hold many (up to the hard limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cd "$(dirname "$0")/../.."
. scripts/postgres.sh
. scripts/demo.sh

run=${STAGEDOOR_LOCAL_DIR:-$PWD/.run/local}
mkdir -p "$run/logs" "$run/pids"
chmod 755 "$run"
conf="$run/topology.env"

listen_port=${PORT:-8080}
pg_port=${STAGEDOOR_PG_PORT:-54339}
bouncer_port=${STAGEDOOR_PGBOUNCER_PORT:-$((pg_port + 1))}

save_topology() {
  cat > "$conf" <<EOF
GATEWAYS=${GATEWAYS:-3}
QUEUE_WORKERS=${QUEUE_WORKERS:-2}
PAYMENT_WORKERS=${PAYMENT_WORKERS:-3}
LISTEN_PORT=$listen_port
DATABASE_URL=$DATABASE_URL
DATABASE_DIRECT_URL=${DATABASE_DIRECT_URL:-$DATABASE_URL}
DATABASE_STATEMENTS=${DATABASE_STATEMENTS:-named}
DATABASE_REPLICA_URLS=${DATABASE_REPLICA_URLS:-}
STARTED_PG=${started_pg:-}
PG_PORT=$pg_port
STARTED_PGBOUNCER=${started_pgbouncer:-}
BIN=$bin
ADMIN_KEY=${ADMIN_KEY:-local-admin-key}
EOF
}

load_topology() {
  [ -f "$conf" ] || { echo "nothing is up (no $conf)" >&2; exit 1; }
  # shellcheck disable=SC1090
  . "$conf"
  export DATABASE_URL DATABASE_DIRECT_URL DATABASE_STATEMENTS DATABASE_REPLICA_URLS ADMIN_KEY
  bin=$BIN
  pg_port=${PG_PORT:-$pg_port}
  if [ -n "$STARTED_PG" ]; then pg_ensure_installed; fi
}

gateway_port() { echo $((listen_port + 100 + $1)); }  # gateway-1 → 8181, …

# start_process NAME: gateway-N, queue-worker-N or payment-worker-N, in the background.
start_process() {
  local name=$1 kind=${1%-*} n=${1##*-}
  local extra=()
  case $kind in
    gateway) extra=(PORT="$(gateway_port "$n")" HOST=127.0.0.1) ;;
    queue-worker) extra=(METRICS_PORT=$((9200 + n))) ;;
    payment-worker) extra=(METRICS_PORT=$((9300 + n))) ;;
    *) echo "unknown process $name" >&2; return 1 ;;
  esac
  # Its own session: it outlives this script and the terminal, and takes no signal meant for them.
  # A small supervisor shell writes the process's pid, waits, and logs how it ended (143 = SIGTERM,
  # 137 = SIGKILL, 0 = a clean exit), so no process ever disappears without a line saying why.
  local log="$run/logs/$name.log" pidfile="$run/pids/$name"
  rm -f "$pidfile"
  setsid bash -c '
    env "${@:3}" < /dev/null >> "$1" 2>&1 &
    child=$!
    echo "$child" > "$2"
    wait "$child"
    status=$?
    echo "$(date -u +%FT%TZ) [stagedoor-local] pid $child exited with status $status" >> "$1"
  ' supervise "$log" "$pidfile" "${extra[@]}" "$bin/stagedoor-$kind" < /dev/null > /dev/null 2>&1 &
  for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.02; done
}

pid_of() { cat "$run/pids/$1" 2>/dev/null || true; }
alive() { local pid; pid=$(pid_of "$1"); [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }

ensure_nginx() {
  command -v nginx >/dev/null 2>&1 && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing nginx (apt-get)…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null 2>&1 ||
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  fi
  command -v nginx >/dev/null 2>&1 || { echo "nginx is needed: run 'sudo apt-get install nginx'" >&2; exit 1; }
}

write_nginx_conf() {
  mkdir -p "$run/nginx/tmp"
  chmod 777 "$run/nginx/tmp"
  local servers=""
  for n in $(seq 1 "$GATEWAYS"); do servers+="        server 127.0.0.1:$(gateway_port "$n") max_fails=1 fail_timeout=2s;"$'\n'; done
  cat > "$run/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $run/nginx/nginx.pid;
error_log $run/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $run/nginx/tmp/body;
    proxy_temp_path $run/nginx/tmp/proxy;
    fastcgi_temp_path $run/nginx/tmp/fastcgi;
    uwsgi_temp_path $run/nginx/tmp/uwsgi;
    scgi_temp_path $run/nginx/tmp/scgi;
    upstream stagedoor {
$servers        keepalive 256;
    }
    server {
        listen 127.0.0.1:$listen_port;
        client_max_body_size 128k;
        location / {
            proxy_pass http://stagedoor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            # A dead gateway: idempotent requests go to the next one. POSTs are not resent by the
            # balancer (a charge without an Idempotency-Key must not run twice); clients retry them
            # with their key.
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 1s;
            proxy_read_timeout 65s;
        }
    }
}
EOF
}

up() {
  export GATEWAYS=${GATEWAYS:-3} QUEUE_WORKERS=${QUEUE_WORKERS:-2} PAYMENT_WORKERS=${PAYMENT_WORKERS:-3}
  export ADMIN_KEY=${ADMIN_KEY:-local-admin-key}
  if [ -f "$conf" ]; then echo "already up (or not cleanly stopped): run '$0 down' first" >&2; exit 1; fi
  started_pg=""
  if [ -z "${DATABASE_URL:-}" ]; then
    pg_ensure_installed
    pg_start "$run/pg" "$pg_port" max_connections=400
    started_pg="$run/pg"
    pg_createdb "$pg_port" stagedoor
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/stagedoor"
    if [ "${REPLICAS:-0}" -gt 0 ]; then
      pg_start_replicas "$run" "$pg_port" "$REPLICAS" stagedoor
      export DATABASE_REPLICA_URLS=$PG_REPLICA_URLS
    fi
  fi
  started_pgbouncer=""
  if [ "${PGBOUNCER:-0}" = 1 ]; then
    pgbouncer_ensure_installed
    # PgBouncer forwards to the server of DATABASE_URL; the processes reach it in its place.
    read -r db_host db_port db_name < <(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432, p.path.lstrip("/"))' "$DATABASE_URL")
    pgbouncer_start "$run/pgbouncer" "$bouncer_port" "$db_port" "${PGBOUNCER_POOL_SIZE:-20}" "$db_host"
    started_pgbouncer="$run/pgbouncer"
    export DATABASE_DIRECT_URL=$DATABASE_URL DATABASE_STATEMENTS=unnamed
    export DATABASE_URL="postgres://postgres@127.0.0.1:$bouncer_port/$db_name"
  fi
  ensure_nginx
  echo "building (release)…"
  swift build -c release > "$run/logs/build.log" 2>&1 || { tail -n 30 "$run/logs/build.log" >&2; exit 1; }
  bin=$(swift build -c release --show-bin-path)
  save_topology
  GATEWAYS=$GATEWAYS write_nginx_conf
  for n in $(seq 1 "$QUEUE_WORKERS"); do start_process "queue-worker-$n"; done
  for n in $(seq 1 "$PAYMENT_WORKERS"); do start_process "payment-worker-$n"; done
  for n in $(seq 1 "$GATEWAYS"); do start_process "gateway-$n"; done
  nginx -c "$run/nginx/nginx.conf"
  local url="http://127.0.0.1:$listen_port"
  for _ in $(seq 1 120); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
  curl -fsS "$url/readyz" >/dev/null || { echo "the gateways did not become ready; logs in $run/logs" >&2; exit 1; }
  # The README's walkthrough books from the demo concert; chaos and scaling bring their own (DEMO_CONCERT=0).
  [ "${DEMO_CONCERT:-1}" = 0 ] || seed_demo_concert "$url" "$ADMIN_KEY"
  echo "Stagedoor is up behind nginx: $url"
  echo "  $GATEWAYS gateways (127.0.0.1:$(gateway_port 1)…), $QUEUE_WORKERS queue workers (metrics :9201…), $PAYMENT_WORKERS payment workers (metrics :9301…)"
  if [ -n "$started_pgbouncer" ]; then
    echo "  database: $DATABASE_URL (PgBouncer, transaction mode) → $DATABASE_DIRECT_URL; logs: $run/logs; stop with: $0 down"
  else
    echo "  database: $DATABASE_URL; logs: $run/logs; stop with: $0 down"
  fi
  [ -z "${DATABASE_REPLICA_URLS:-}" ] || echo "  replicas (gateway reads): $DATABASE_REPLICA_URLS"
}

down() {
  load_topology
  [ -f "$run/nginx/nginx.pid" ] && nginx -c "$run/nginx/nginx.conf" -s quit 2>/dev/null || true
  local pids=()
  for file in "$run"/pids/*; do
    [ -e "$file" ] || continue
    local pid; pid=$(cat "$file")
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$file"
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ -n "$STARTED_PGBOUNCER" ] && pgbouncer_stop "$STARTED_PGBOUNCER"
  if [ -n "$STARTED_PG" ]; then pg_stop_replicas "$STARTED_PG/.."; pg_stop "$STARTED_PG"; fi
  rm -f "$conf"
  echo "stopped."
}

status() {
  load_topology
  for file in "$run"/pids/*; do
    [ -e "$file" ] || continue
    local name; name=$(basename "$file")
    if alive "$name"; then echo "$name: running (pid $(pid_of "$name"))"; else echo "$name: not running"; fi
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  kill)
    load_topology
    case $2 in
      # A replica dies at once (immediate shutdown: no checkpoint, its sessions cut).
      replica-*) pg_as_owner "$PG_BIN/pg_ctl" -D "$run/$2" -m immediate -w stop >/dev/null 2>&1 || true ;;
      *) kill -KILL "$(pid_of "$2")" 2>/dev/null || true ;;
    esac ;;
  term) load_topology; kill -TERM "$(pid_of "$2")" 2>/dev/null || true ;;
  start)
    load_topology
    case $2 in
      # It recovers and streams again from its slot (the primary kept the WAL it needs).
      replica-*) n=${2#replica-}; pg_start_replica "$run/$2" $((pg_port + 10 + n)) "$pg_port" max_connections=400 ;;
      *) alive "$2" || start_process "$2" ;;
    esac ;;
  restart-postgres)
    load_topology
    [ -n "$STARTED_PG" ] || { echo "Postgres was not started by this topology" >&2; exit 1; }
    # pg_ctl restart keeps the options the server was started with (postmaster.opts).
    pg_as_owner "$PG_BIN/pg_ctl" -D "$STARTED_PG" -l "$STARTED_PG/server.log" -m fast -w restart >/dev/null ;;
  *) sed -n '2,14p' "$0"; exit 2 ;;
esac
