-- The migrator's own bookkeeping, created before every pass (so it must stay idempotent): one row
-- per file applied, migrations/NNN_….sql and functions/….sql, with the SHA-256 of the text applied.
CREATE TABLE IF NOT EXISTS schema_migrations (
    name       text        PRIMARY KEY,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
