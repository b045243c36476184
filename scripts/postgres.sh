#!/usr/bin/env bash
# Helpers to run a local PostgreSQL 15 cluster for `make run`, `make test` and `make bench`.
# Source this file; it defines functions and changes nothing by itself.

# Installs the PostgreSQL server when it is missing (apt-get when root), or says what to run.
pg_ensure_installed() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    PG_BIN=$(pg_config --bindir)
    return 0
  fi
  for dir in /usr/lib/postgresql/*/bin; do
    if [ -x "$dir/initdb" ]; then PG_BIN=$dir; return 0; fi
  done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL server not found: installing it with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql postgresql-contrib >/dev/null || return 1
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    return 0
  fi
  echo "PostgreSQL server not found. Install it with: sudo apt-get install -y postgresql postgresql-contrib" >&2
  return 1
}

# Runs a server binary as the `postgres` user when we are root (Postgres refuses root).
pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql --shell /bin/bash postgres
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# A free TCP port on 127.0.0.1.
pg_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pg_start DIR PORT [extra postgres -c options…]: initialises DIR if empty and starts a server on PORT.
pg_start() {
  local dir port=$2
  dir=$(realpath -m "$1"); shift 2
  mkdir -p "$dir"
  # Every parent must be traversable by the postgres user.
  local parent; parent=$(dirname "$dir")
  while [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; parent=$(dirname "$parent"); done
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir" 2>/dev/null || { id postgres >/dev/null 2>&1 || useradd --system --home /var/lib/postgresql postgres; chown postgres:postgres "$dir"; }; fi
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    pg_as_owner "$PG_BIN/initdb" -D "$dir" -A trust -U postgres --no-sync -E UTF8 >"$dir.initdb.log" 2>&1 || { cat "$dir.initdb.log" >&2; return 1; }
  fi
  local opts="-k /tmp -c listen_addresses=127.0.0.1 -p $port"
  for o in "$@"; do opts="$opts -c $o"; done
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null || { tail -n 20 "$dir/server.log" >&2; return 1; }
}

# pg_start_replica DIR PORT PRIMARY_PORT [extra postgres -c options…]: a streaming replica of the
# server on PRIMARY_PORT (pg_basebackup with its replication settings, -R), started on PORT. The
# primary needs wal_level=replica (the default) and a replication entry in pg_hba.conf (initdb -A
# trust writes one for 127.0.0.1).
pg_start_replica() {
  local dir port=$2 primary=$3
  # Canonical, so that opening its parents to the server's user never touches another data dir
  # (…/pg/../replica-1 would make pg itself o+x, which PostgreSQL then refuses to start on).
  dir=$(realpath -m "$1"); shift 3
  mkdir -p "$dir"
  local parent; parent=$(dirname "$dir")
  while [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; parent=$(dirname "$parent"); done
  if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    # With PG_REPLICA_SLOT, the copy streams from a physical replication slot of that name (made
    # anew): the primary keeps the WAL a stopped replica still needs.
    local slot=()
    if [ -n "${PG_REPLICA_SLOT:-}" ]; then
      "$PG_BIN/psql" -h 127.0.0.1 -p "$primary" -U postgres -d postgres -qAtc \
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$PG_REPLICA_SLOT'" >/dev/null
      slot=(-C -S "$PG_REPLICA_SLOT")
    fi
    pg_as_owner "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$primary" -U postgres -D "$dir" -R -X stream -c fast --no-sync "${slot[@]}" >"$dir.basebackup.log" 2>&1 ||
      { cat "$dir.basebackup.log" >&2; return 1; }
  fi
  local opts="-k /tmp -c listen_addresses=127.0.0.1 -p $port -c hot_standby=on"
  for o in "$@"; do opts="$opts -c $o"; done
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null || { tail -n 20 "$dir/server.log" >&2; return 1; }
}

# pg_start_replicas DIR PRIMARY_PORT N DB: N streaming replicas of the server on PRIMARY_PORT, in
# DIR/replica-1… on the ports after it, each on its own physical slot (stagedoor_replica_1…); sets
# PG_REPLICA_URLS to their URLs for database DB, comma-separated (DATABASE_REPLICA_URLS).
pg_start_replicas() {
  local dir=$1 primary=$2 count=$3 db=$4 n
  PG_REPLICA_URLS=""
  for n in $(seq 1 "$count"); do
    PG_REPLICA_SLOT="stagedoor_replica_$n" pg_start_replica "$dir/replica-$n" $((primary + 10 + n)) "$primary" max_connections=400 || return 1
    PG_REPLICA_URLS+="${PG_REPLICA_URLS:+,}postgres://postgres@127.0.0.1:$((primary + 10 + n))/$db"
  done
}

# pg_stop_replicas DIR: stops the replicas pg_start_replicas started in DIR.
pg_stop_replicas() {
  local replica
  for replica in "$1"/replica-*; do [ -d "$replica" ] && pg_stop "$replica"; done
  return 0
}

# pg_stop DIR: fast shutdown of the server in DIR, if running.
pg_stop() {
  [ -f "$1/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}

# allowed_cpus: the CPU ids this shell may run on, one per line (its affinity, e.g. in a container).
allowed_cpus() {
  local part
  for part in $(awk '/^Cpus_allowed_list:/ { gsub(",", " ", $2); print $2 }' /proc/self/status); do
    if [[ $part == *-* ]]; then seq "${part%-*}" "${part#*-}"; else echo "$part"; fi
  done
}

# pg_pin DIR CPUS: runs the server in DIR — the postmaster, its running processes and every backend
# it starts from now on — on CPUS only (a taskset list such as 0 or 0-1; all allowed CPUs to undo).
# Fails, changing nothing, where the postmaster cannot be pinned (no taskset, or not allowed).
pg_pin() {
  local postmaster child
  postmaster=$(head -1 "$1/postmaster.pid")
  command -v taskset >/dev/null 2>&1 && taskset -pc "$2" "$postmaster" >/dev/null 2>&1 || return 1
  for child in $(pgrep -P "$postmaster"); do taskset -pc "$2" "$child" >/dev/null 2>&1 || true; done
}

# pg_createdb PORT NAME: creates a database unless it exists.
pg_createdb() {
  "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$2'" | grep -q 1 ||
    "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -qc "CREATE DATABASE \"$2\"" >/dev/null
}

# Installs Debian's PgBouncer when it is missing (apt-get when root), or says what to run.
pgbouncer_ensure_installed() {
  PGBOUNCER_BIN=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  [ -x "$PGBOUNCER_BIN" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "PgBouncer not found: installing it with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq pgbouncer >/dev/null || return 1
    PGBOUNCER_BIN=/usr/sbin/pgbouncer
    return 0
  fi
  echo "PgBouncer not found. Install it with: sudo apt-get install -y pgbouncer" >&2
  return 1
}

# pgbouncer_start DIR PORT PG_PORT [SERVER_POOL_SIZE [PG_HOST]]: PgBouncer in transaction mode on
# 127.0.0.1:PORT in front of the PostgreSQL on PG_HOST:PG_PORT (127.0.0.1; trust, like the local
# clusters), every database passed through.
# Stagedoor's clients ask for their session limits as startup parameters, which PgBouncer 1.18 refuses;
# it is told to ignore them and sets the same limits on each server connection instead.
pgbouncer_start() {
  local dir=$1 port=$2 pg_port=$3 pool=${4:-20} pg_host=${5:-127.0.0.1}
  mkdir -p "$dir"
  local parent; parent=$(dirname "$dir")
  while [ "$parent" != "/" ]; do chmod o+x "$parent" 2>/dev/null || true; parent=$(dirname "$parent"); done
  echo '"postgres" ""' > "$dir/userlist.txt"
  cat > "$dir/pgbouncer.ini" <<INI
[databases]
* = host=$pg_host port=$pg_port connect_query='SET statement_timeout = ''30s''; SET idle_in_transaction_session_timeout = ''60s''; SET client_connection_check_interval = ''2s'''

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool
max_client_conn = 10000
max_db_connections = 0
ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout,client_connection_check_interval
server_check_delay = 10
# After a failed server login (PostgreSQL restarting) retry in 1 s, not the default 15 s during which
# every client waits: a chaos run's restart turned into 21 s answers and 503s with the default.
server_login_retry = 1
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
admin_users = postgres
stats_users = postgres
INI
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$dir"; fi
  # Each client is a file descriptor: raise the limit to what max_client_conn needs.
  pg_as_owner bash -c 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" -d -q "$1"' "$PGBOUNCER_BIN" "$dir/pgbouncer.ini" ||
    { tail -n 20 "$dir/pgbouncer.log" >&2; return 1; }
  for _ in $(seq 1 50); do
    "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "PgBouncer did not answer on port $port" >&2; tail -n 20 "$dir/pgbouncer.log" >&2; return 1
}

# pgbouncer_stop DIR: stops the PgBouncer started in DIR, if running.
pgbouncer_stop() {
  local pid; pid=$(cat "$1/pgbouncer.pid" 2>/dev/null) || return 0
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}
