#!/usr/bin/env bash
# The test command: starts a throwaway PostgreSQL (unless TEST_DATABASE_URL is set) and a PgBouncer in
# front of it (unless TEST_PGBOUNCER_URL is set), runs the whole
# suite against it, then validates the Kubernetes manifests, drives the pages in Chromium
# (scripts/browser-tests.sh; BROWSER=0 skips it) and fuzzes the HTTP contract (scripts/fuzz.sh;
# FUZZ=0 skips it), and removes it.
# Each test creates its own database on that server. With TEST_DATABASE_URL set, the replica tests
# need TEST_REPLICA_URL (a streaming replica of that server) and TEST_REPLICA_DATA (its data directory).
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
  # A streaming replica of it, for the tests of reads on replicas (every test database is on both).
  replica_port=$(pg_free_port)
  cleanup() { pg_stop "$dir/replica"; pg_stop "$dir/data"; rm -rf "$dir"; }
  # On a slot: the replica tests stop and restart it, and the primary must keep the WAL it misses meanwhile.
  PG_REPLICA_SLOT=stagedoor_test_replica pg_start_replica "$dir/replica" "$replica_port" "$port" fsync=off max_connections=400
  export TEST_REPLICA_URL="postgres://postgres@127.0.0.1:$replica_port/postgres" TEST_REPLICA_DATA="$dir/replica"
  echo "test replica on port $replica_port"
fi

# PgBouncer in transaction mode in front of it, for the tests of the pooled topology.
if [ -z "${TEST_PGBOUNCER_URL:-}" ]; then
  pg_ensure_installed
  pgbouncer_ensure_installed
  bouncer_dir=$(mktemp -d /tmp/stagedoor-test-pgbouncer.XXXXXX)
  chmod 755 "$bouncer_dir"
  bouncer_port=$(pg_free_port)
  read -r upstream_host upstream_port < <(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432)' "$TEST_DATABASE_URL")
  stop_bouncer() { pgbouncer_stop "$bouncer_dir"; rm -rf "$bouncer_dir"; }
  if [ -n "${dir:-}" ]; then trap 'stop_bouncer; cleanup' EXIT; else trap stop_bouncer EXIT; fi
  pgbouncer_start "$bouncer_dir" "$bouncer_port" "$upstream_port" 20 "$upstream_host"
  export TEST_PGBOUNCER_URL="postgres://postgres@127.0.0.1:$bouncer_port/postgres"
  echo "test PgBouncer on port $bouncer_port"
fi

# The outside tools of the steps after the Swift tests install meanwhile (scripts/tools.sh).
tools=""
if [ $# -eq 0 ]; then
  mkdir -p .build
  ./scripts/tools.sh > .build/tools-install.log 2>&1 &
  tools=$!
fi
# tools_ready: waits for them; their output only when they failed.
tools_ready() {
  [ -n "$tools" ] || return 0
  wait "$tools" || { cat .build/tools-install.log >&2; echo "installing the test tools failed" >&2; exit 1; }
  tools=""
}

swift build --build-tests
# Tests run in parallel, at most four per core: each starts gateways and workers of its own, and the
# whole suite at once (150 tests) on a 2-core machine left listeners without an answer for seconds
# and replies past their timeouts; four per core is no slower.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH=${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-$(( $(nproc) * 4 ))}
# The results also go to an xUnit file, complete (closed by </testsuites>) when the run ends. Once in
# a while (twice in about thirty runs, 2026-12-04) the test process hangs at its exit after the run,
# in the C library's exit path; then the complete results file decides, and the process is ended.
results=.build/test-results.xml
rm -f .build/test-results*.xml
swift test --skip-build --xunit-output "$results" "$@" > >(tee .build/test-output.log) 2>&1 &
tests=$!
written=""
while kill -0 "$tests" 2>/dev/null; do
  if grep -qs '</testsuites>' .build/test-results-swift-testing.xml; then
    written=${written:-$(date +%s)}
    if [ $(( $(date +%s) - written )) -gt 60 ]; then
      echo "the test process finished its run but had not exited 60 s later: ending it, its results decide" >&2
      pkill -P "$tests" 2>/dev/null || true
      sleep 2
      kill "$tests" 2>/dev/null || true
      break
    fi
  fi
  sleep 1
done
status=0
wait "$tests" || status=$?
if [ -n "$written" ] && [ $status -ne 0 ]; then
  if grep -q '<testsuite name="TestResults" errors="0" tests="[0-9]*" failures="0"' .build/test-results-swift-testing.xml; then
    grep -o '<testsuite name="TestResults"[^>]*>' .build/test-results-swift-testing.xml
    status=0
  fi
fi
[ $status -eq 0 ] || { [ -z "$tools" ] || kill "$tools" 2>/dev/null; exit $status; }
tools_ready

# The Kubernetes manifests against the Kubernetes schemas (scripts/check-manifests.sh).
if [ $# -eq 0 ]; then
  ./scripts/check-manifests.sh
fi

# The fans' app and the operators' console in a real browser (scripts/browser-tests.sh; BROWSER=0 skips).
if [ "${BROWSER:-1}" = 1 ] && [ $# -eq 0 ]; then
  ./scripts/browser-tests.sh
fi

# The HTTP contract, fuzzed against a real stack (derandomized and bounded; `make fuzz` runs longer).
if [ "${FUZZ:-1}" = 1 ] && [ $# -eq 0 ]; then
  BIN=$(swift build --show-bin-path) ./scripts/fuzz.sh
fi
