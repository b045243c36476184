#!/usr/bin/env bash
# Writes sql/schema.sql: the whole schema a fresh database has once migrated, for readers (the
# files under sql/ are what runs; this is what they add up to). A test fails when it is stale.
#   scripts/schema.sh            migrate a throwaway database and write sql/schema.sql
#   scripts/schema.sh dump URL   print the schema of the database at URL, as sql/schema.sql holds it
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/postgres.sh
pg_ensure_installed

# pg_dump's text, without what differs between runs or machines (versions, the random \restrict
# key of newer pg_dumps, session settings) and with one blank line between objects.
dump() {
  "$PG_BIN/pg_dump" --schema-only --no-owner --no-privileges --no-tablespaces -d "$1" |
    grep -v -e '^-- Dumped ' -e '^\\restrict' -e '^\\unrestrict' -e '^SET ' -e '^SELECT pg_catalog.set_config' |
    cat -s
}

if [ "${1:-}" = dump ]; then
  dump "$2"
  exit 0
fi

swift build --product stagedoor-admin >/dev/null
bin=$(swift build --show-bin-path)
dir=$(mktemp -d /tmp/stagedoor-schema-pg.XXXXXX)
chmod 755 "$dir"
port=$(pg_free_port)
trap 'pg_stop "$dir/data"; rm -rf "$dir"' EXIT
pg_start "$dir/data" "$port" fsync=off
url="postgres://postgres@127.0.0.1:$port/postgres"
"$bin/stagedoor-admin" migrate --database-url "$url" >/dev/null
{
  echo "-- The schema a fresh database has once migrated: what sql/migrations and sql/functions add up to."
  echo "-- Written by \`make schema\`; do not edit (a test fails when it is stale)."
  dump "$url"
} > sql/schema.sql
echo "wrote sql/schema.sql"
