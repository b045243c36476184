#!/usr/bin/env bash
# The browser tests (run by scripts/test.sh): Debian's Chromium driven by Python Playwright through
# the fans' app and the operators' console, against a real stack — the gateway, a queue worker and a
# payment worker (the debug build) on a fresh database of the test PostgreSQL (TEST_DATABASE_URL).
# Screenshots of every step go to $BROWSER_SHOTS (printed at the start).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
: "${TEST_DATABASE_URL:?run through scripts/test.sh, which starts PostgreSQL}"

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium (apt-get)…"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is needed: sudo apt-get install -y chromium" >&2; exit 1
  fi
fi
venv=.build/browser-venv
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import playwright' 2>/dev/null; then
  echo "installing Playwright and pytest into $venv…"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "playwright==1.*" "pytest==8.*"
fi

bin=$(swift build --show-bin-path)
work=$(mktemp -d /tmp/stagedoor-browser.XXXXXX)
export BROWSER_SHOTS=${BROWSER_SHOTS:-$work/screenshots}
mkdir -p "$BROWSER_SHOTS"
database="browser_$(date +%s)_$$"
read -r pg_host pg_port < <(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p.hostname, p.port or 5432)' "$TEST_DATABASE_URL")
pg_ensure_installed
pg_createdb "$pg_port" "$database"
port=$(pg_free_port)
export STAGEDOOR_URL="http://127.0.0.1:$port" ADMIN_KEY="browser-admin-key"
# For the one thing no API makes: a dead job (the tests write it as a worker leaves one).
export BROWSER_PSQL="$PG_BIN/psql" BROWSER_DATABASE_URL="postgres://postgres@$pg_host:$pg_port/$database"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$PG_BIN/psql" -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap stop EXIT
common=(DATABASE_URL="postgres://postgres@$pg_host:$pg_port/$database" ADMIN_KEY="$ADMIN_KEY" ADMIT_PER_SECOND=50 QUEUE_TICK=0.5
        RATE_LIMIT=0 LOG_LEVEL=warning)
env "${common[@]}" PORT="$port" "$bin/stagedoor-gateway" > "$work/gateway.log" 2>&1 & pids+=($!)
env "${common[@]}" "$bin/stagedoor-queue-worker" > "$work/queue-worker.log" 2>&1 & pids+=($!)
env "${common[@]}" "$bin/stagedoor-payment-worker" > "$work/payment-worker.log" 2>&1 & pids+=($!)
for _ in $(seq 1 120); do curl -fsS "$STAGEDOOR_URL/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fsS "$STAGEDOOR_URL/readyz" >/dev/null || { echo "the gateway did not become ready:" >&2; cat "$work/gateway.log" >&2; exit 1; }

echo "browser tests against $STAGEDOOR_URL; screenshots in $BROWSER_SHOTS"
status=0
"$venv/bin/pytest" -q -p no:cacheprovider Tests/Browser "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "--- gateway log (tail)"; tail -n 30 "$work/gateway.log"
  echo "--- payment worker log (tail)"; tail -n 15 "$work/payment-worker.log"
fi
echo "screenshots: $BROWSER_SHOTS"
exit $status
