#!/usr/bin/env bash
# Fuzzes the HTTP contract: schemathesis (PyPI, in a virtual environment it installs) against the
# served /openapi.yaml of a real stack (PostgreSQL, gateway, queue worker, payment worker), with
# every check, once as a fan (API key + active queue token) and once as an operator (admin key).
# Fails on any finding; prints the number of cases and findings of each run.
#   scripts/fuzz.sh            derandomized and bounded: what `make test` runs (FUZZ_EXAMPLES per operation, 100)
#   scripts/fuzz.sh SECONDS    randomized, for that long in all (`make fuzz`, 600 by default)
# Uses TEST_DATABASE_URL's server when set, else starts a throwaway PostgreSQL; binaries from
# BIN (default: the debug build, which it builds).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
seconds=${1:-}

. scripts/tools.sh
tool_venv fuzz

if [ -z "${BIN:-}" ]; then
  swift build >/dev/null
  BIN=$(swift build --show-bin-path)
fi
work=$(mktemp -d /tmp/stagedoor-fuzz.XXXXXX)
chmod 755 "$work"
pids=()
started_pg=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "$started_pg" ] && pg_stop "$started_pg"
  rm -rf "$work"
}
trap cleanup EXIT
pg_ensure_installed
if [ -n "${TEST_DATABASE_URL:-}" ]; then
  server=${TEST_DATABASE_URL%/*}
else
  pg_port=$(pg_free_port)
  pg_start "$work/pg" "$pg_port" fsync=off synchronous_commit=off
  started_pg="$work/pg"
  server="postgres://postgres@127.0.0.1:$pg_port"
fi
db="fuzz_$$_$RANDOM"
"$PG_BIN/psql" "$server/postgres" -qc "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="$server/$db" LOG_LEVEL=warning
port=$(pg_free_port)
admin_key="fuzz-admin-$RANDOM$RANDOM"
# Admission fast and roomy, tokens long-lived and no request budget, so the fan stays active and
# the fuzzer is never throttled: what is under test is the contract, not the waiting room's pace.
ADMIT_PER_SECOND=1000 MAX_ACTIVE=1000000 ACTIVE_TTL=86400 "$BIN/stagedoor-queue-worker" > "$work/queue-worker.log" 2>&1 &
pids+=($!)
"$BIN/stagedoor-payment-worker" > "$work/payment-worker.log" 2>&1 &
pids+=($!)
PORT=$port ADMIN_KEY=$admin_key RATE_LIMIT=0 "$BIN/stagedoor-gateway" > "$work/gateway.log" 2>&1 &
pids+=($!)
url="http://127.0.0.1:$port"
for _ in $(seq 1 150); do curl -fsS "$url/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$url/readyz" >/dev/null || { cat "$work/gateway.log" >&2; exit 1; }

json() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
curl -fsS -XPOST "$url/v1/admin/concerts" -H "Authorization: Bearer $admin_key" \
  -d "{\"title\": \"Fuzz\", \"artist\": \"Fuzz\", \"schedules\": [{\"startsAt\": \"$(date -u -d '+30 days' +%FT19:00:00Z)\", \"price\": 100}]}" >/dev/null
key=$(curl -fsS -XPOST "$url/v1/users" -d '{"name": "fuzz"}' | json apiKey)
token=$(curl -fsS -XPOST "$url/v1/queue/tokens" -H "Authorization: Bearer $key" | json token)
for _ in $(seq 1 50); do
  status=$(curl -fsS "$url/v1/queue/tokens/current" -H "Authorization: Bearer $key" -H "X-Queue-Token: $token" | json status)
  [ "$status" = active ] && break
  sleep 0.2
done
[ "$status" = active ] || { echo "the fan's token never became active ($status)" >&2; exit 1; }

if [ -n "$seconds" ]; then
  generation=(--max-time "$((seconds / 2))")
else
  generation=(--generation-deterministic --seed 20261204 --max-examples "${FUZZ_EXAMPLES:-100}" --no-shrink)
fi
failed=0
fuzz() {  # fuzz NAME ARGS…: one schemathesis run; prints its cases and findings
  local name=$1; shift
  echo "fuzzing as $name…"
  local out=$work/$name.txt
  if "$venv/bin/schemathesis" --config-file scripts/fuzz/schemathesis.toml run "$url/openapi.yaml" --checks all --workers 1 --no-color \
       --request-timeout 30 --suppress-health-check all \
       "${generation[@]}" "$@" > "$out" 2>&1; then
    :
  else
    failed=1
    cat "$out"
  fi
  python3 - "$out" "$name" >> "$work/summary.txt" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
generated = re.search(r"(\d+) generated", text)
failures = re.search(r"(\d+) unique failures?", text)
cases = int(generated.group(1)) if generated else 0
found = int(failures.group(1)) if failures else 0
print(f"{sys.argv[2]} {cases} {found}")
PY
  tail -n 1 "$work/summary.txt" | awk '{ printf "fuzz as %s: %d cases, %d findings\n", $1, $2, $3 }'
}
fuzz fan -H "Authorization: Bearer $key" -H "X-Queue-Token: $token" --exclude-path-regex '^/v1/admin/'
fuzz operator -H "Authorization: Bearer $admin_key" --include-path-regex '^/v1/admin/'
# No request may crash a process or make it log an error.
for pid in "${pids[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "a process of the stack died during the fuzzing (pid $pid); logs in $work" >&2; failed=1; }
done
if grep -E '^[^ ]+ (error|critical) |Fatal error|panicked' "$work"/*.log >&2; then
  echo "a process logged the errors above during the fuzzing" >&2
  failed=1
fi
# One closing line in the plain form test runners print: cases passed, findings failed.
awk -v failed="$failed" '{ cases += $2; findings += $3 } END { if (failed && findings == 0) findings = 1; printf "fuzz: %d passed, %d failed\n", cases - findings, findings }' "$work/summary.txt"
[ "$failed" = 0 ] || { echo "fuzzing found the problems above" >&2; exit 1; }
