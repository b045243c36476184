# Sourced by scripts/run.sh and deploy/local/stagedoor-local.sh: the demo concert the README's curl
# walkthrough books from.

# seed_demo_concert URL ADMIN_KEY: an empty database gets a demo concert, 3 schedules × 50 seats a
# month ahead (ids 1–3 on a fresh database). A database with any concert is left as it is.
seed_demo_concert() {
  local url=$1 key=$2
  curl -fsS "$url/v1/concerts" | grep -q '"concerts":\[\]' || return 0
  day() { date -u -d "+$1 days" +%Y-%m-%dT19:00:00Z; }
  curl -fsS -XPOST "$url/v1/admin/concerts" -H "Authorization: Bearer $key" \
    -d "{\"title\": \"Stagedoor Demo Night\", \"artist\": \"The Waiting Room\", \"schedules\": [
         {\"startsAt\": \"$(day 30)\", \"price\": 50000}, {\"startsAt\": \"$(day 31)\", \"price\": 50000},
         {\"startsAt\": \"$(day 32)\", \"price\": 70000}]}" >/dev/null && echo "seeded a demo concert (3 schedules × 50 seats)"
}
