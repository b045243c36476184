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
  local dir=$1 port=$2; shift 2
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

# pg_stop DIR: fast shutdown of the server in DIR, if running.
pg_stop() {
  [ -f "$1/postmaster.pid" ] && pg_as_owner "$PG_BIN/pg_ctl" -D "$1" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_createdb PORT NAME: creates a database unless it exists.
pg_createdb() {
  "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$2'" | grep -q 1 ||
    "$PG_BIN/psql" -h 127.0.0.1 -p "$1" -U postgres -d postgres -qc "CREATE DATABASE \"$2\"" >/dev/null
}
