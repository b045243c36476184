#!/usr/bin/env bash
# The browser tests (run by scripts/test.sh): Debian's Chromium driven by Python Playwright through
# the fans' app and the operators' console, against a real stack — two gateways behind nginx (as in
# deploy/local: a request that meets a dead gateway goes to the other), a queue worker and a payment
# worker (the debug build) on a fresh database of the test PostgreSQL (TEST_DATABASE_URL). The tests
# kill and start gateways with $BROWSER_GATEWAYS (`kill N`, `start N`).
# Screenshots of every step go to $BROWSER_SHOTS (printed at the start).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
: "${TEST_DATABASE_URL:?run through scripts/test.sh, which starts PostgreSQL}"

. scripts/tools.sh
ensure chromium chromium
ensure nginx nginx-light
tool_venv browser

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
mkdir -p "$work/pids" "$work/nginx"
gateway_ports=("$(pg_free_port)" "$(pg_free_port)")
cat > "$work/env" <<ENV
DATABASE_URL=$BROWSER_DATABASE_URL
ADMIN_KEY=$ADMIN_KEY
ADMIT_PER_SECOND=50
QUEUE_TICK=0.5
RATE_LIMIT=0
LOG_LEVEL=warning
ENV
# The gateways' control, for the tests: kill N (SIGKILL) or start N (again, on its port).
cat > "$work/gateways.sh" <<CTL
#!/usr/bin/env bash
set -euo pipefail
ports=(${gateway_ports[*]})
case \$1 in
  kill) kill -KILL "\$(cat "$work/pids/gateway-\$2")" 2>/dev/null || true ;;
  start)
    # Already answering on its port: nothing to do (a second one could not bind the port, and its pid
    # would hide the first's). Asked by port, not pid: a killed gateway may linger as a zombie.
    curl -fsS "http://127.0.0.1:\${ports[\$2 - 1]}/healthz" >/dev/null 2>&1 && exit 0
    env \$(cat "$work/env") PORT="\${ports[\$2 - 1]}" "$bin/stagedoor-gateway" >> "$work/gateway-\$2.log" 2>&1 < /dev/null &
    echo \$! > "$work/pids/gateway-\$2"
    for _ in \$(seq 1 100); do curl -fsS "http://127.0.0.1:\${ports[\$2 - 1]}/readyz" >/dev/null 2>&1 && exit 0; sleep 0.2; done
    echo "gateway \$2 did not become ready" >&2; exit 1 ;;
esac
CTL
chmod +x "$work/gateways.sh"
export BROWSER_GATEWAYS="$work/gateways.sh"
stop() {
  [ -f "$work/nginx/nginx.pid" ] && nginx -c "$work/nginx/nginx.conf" -s stop 2>/dev/null || true
  for file in "$work"/pids/*; do [ -e "$file" ] && kill -TERM "$(cat "$file")" 2>/dev/null || true; done
  for file in "$work"/pids/*; do
    [ -e "$file" ] || continue
    for _ in $(seq 1 50); do kill -0 "$(cat "$file")" 2>/dev/null || break; sleep 0.1; done
  done
  "$PG_BIN/psql" -h "$pg_host" -p "$pg_port" -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true
}
trap stop EXIT
env $(cat "$work/env") "$bin/stagedoor-queue-worker" > "$work/queue-worker.log" 2>&1 & echo $! > "$work/pids/queue-worker"
env $(cat "$work/env") "$bin/stagedoor-payment-worker" > "$work/payment-worker.log" 2>&1 & echo $! > "$work/pids/payment-worker"
"$work/gateways.sh" start 1 || { cat "$work/gateway-1.log" >&2; exit 1; }
"$work/gateways.sh" start 2 || { cat "$work/gateway-2.log" >&2; exit 1; }
# nginx as in deploy/local: a GET (and the event stream) that meets a dead gateway goes to the other;
# a POST is not resent by nginx — the page resends it, with its Idempotency-Key.
mkdir -p "$work/nginx/tmp" && chmod 777 "$work/nginx/tmp"
cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp/body;
    proxy_temp_path $work/nginx/tmp/proxy;
    fastcgi_temp_path $work/nginx/tmp/fastcgi;
    uwsgi_temp_path $work/nginx/tmp/uwsgi;
    scgi_temp_path $work/nginx/tmp/scgi;
    upstream stagedoor {
        server 127.0.0.1:${gateway_ports[0]} max_fails=1 fail_timeout=2s;
        server 127.0.0.1:${gateway_ports[1]} max_fails=1 fail_timeout=2s;
        keepalive 16;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://stagedoor;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_next_upstream error timeout http_502;
            proxy_connect_timeout 1s;
            proxy_read_timeout 65s;
        }
    }
}
NGINX
nginx -c "$work/nginx/nginx.conf"
for _ in $(seq 1 50); do curl -fsS "$STAGEDOOR_URL/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$STAGEDOOR_URL/readyz" >/dev/null || { echo "nginx did not answer:" >&2; cat "$work/nginx/error.log" >&2; exit 1; }

echo "browser tests against $STAGEDOOR_URL; screenshots in $BROWSER_SHOTS"
status=0
"$venv/bin/pytest" -q -p no:cacheprovider Tests/Browser "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "--- gateway logs (tail)"; tail -n 20 "$work"/gateway-*.log
  echo "--- payment worker log (tail)"; tail -n 15 "$work/payment-worker.log"
fi
echo "screenshots: $BROWSER_SHOTS"
exit $status
