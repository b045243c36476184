#!/usr/bin/env bash
# The test command: starts a throwaway PostgreSQL (unless TEST_DATABASE_URL is set), runs the whole
# suite against it, then validates the Kubernetes manifests and fuzzes the HTTP contract
# (scripts/fuzz.sh; FUZZ=0 skips it), and removes it.
# Each test creates its own database on that server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh

if [ -z "${TEST_DATABASE_URL:-}" ]; then
  pg_ensure_installed
  dir=$(mktemp -d /tmp/stagedoor-test-pg.XXXXXX)
  chmod 755 "$dir"
  port=$(pg_free_port)
  cleanup() { pg_stop "$dir/data"; rm -rf "$dir"; }
  trap cleanup EXIT
  # A throwaway cluster: durability off, room for many parallel test databases.
  pg_start "$dir/data" "$port" fsync=off synchronous_commit=off full_page_writes=off max_connections=400 shared_buffers=256MB
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "test PostgreSQL on port $port ($dir)"
fi

swift build --build-tests
swift test --skip-build "$@" 2>&1 | tee .build/test-output.log

# The Kubernetes manifests against the Kubernetes schemas (scripts/check-manifests.sh).
if [ $# -eq 0 ]; then
  ./scripts/check-manifests.sh
fi

# The HTTP contract, fuzzed against a real stack (derandomized and bounded; `make fuzz` runs longer).
if [ "${FUZZ:-1}" = 1 ] && [ $# -eq 0 ]; then
  BIN=$(swift build --show-bin-path) ./scripts/fuzz.sh
fi
