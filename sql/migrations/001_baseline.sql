-- Stagedoor's tables, indexes and sequences: the baseline that folds the pre-release migrations
-- 001–014 into one file. Functions and procedures are not here: each has a file of its own in
-- sql/functions/. Once released, never edit this file: add 002_….sql instead.

-- ── Users and points ────────────────────────────────────────────────────────────────────────────

-- Users authenticate with an API key; only its SHA-256 is stored.
CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    api_key_hash bytea       NOT NULL UNIQUE CHECK (octet_length(api_key_hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One wallet per user. Money is bigint points and can never go negative.
CREATE TABLE wallets (
    user_id    bigint      PRIMARY KEY REFERENCES users (id),
    balance    bigint      NOT NULL DEFAULT 0 CHECK (balance >= 0 AND balance <= 9000000000000000000),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only ledger: for every user, balance = Σ charge − Σ payment + Σ refund.
CREATE TABLE point_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint      NOT NULL REFERENCES users (id),
    kind          text        NOT NULL CHECK (kind IN ('charge', 'payment', 'refund')),
    amount        bigint      NOT NULL CHECK (amount > 0),
    balance_after bigint      NOT NULL CHECK (balance_after >= 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX point_history_user_idx ON point_history (user_id, id DESC);

-- ── Concerts, seats, reservations, payments ─────────────────────────────────────────────────────

CREATE TABLE concerts (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title      text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    artist     text        NOT NULL CHECK (char_length(artist) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE schedules (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    concert_id  bigint      NOT NULL REFERENCES concerts (id),
    starts_at   timestamptz NOT NULL,
    price       bigint      NOT NULL CHECK (price >= 0),
    total_seats integer     NOT NULL CHECK (total_seats BETWEEN 1 AND 1000)
);
CREATE INDEX schedules_concert_idx ON schedules (concert_id, starts_at);

-- A seat is the unit that is held and sold. Its row lock arbitrates every race for it.
CREATE TABLE seats (
    schedule_id     bigint      NOT NULL REFERENCES schedules (id),
    seat_no         integer     NOT NULL CHECK (seat_no >= 1),
    status          text        NOT NULL DEFAULT 'available' CHECK (status IN ('available', 'held', 'sold')),
    reservation_id  bigint,
    hold_expires_at timestamptz,
    PRIMARY KEY (schedule_id, seat_no),
    CHECK ((status = 'held') = (hold_expires_at IS NOT NULL))
);
-- What the hold reaper reads: live and lapsed holds by expiry.
CREATE INDEX seats_hold_expiry_idx ON seats (hold_expires_at) WHERE status = 'held';

-- No foreign keys to users or seats: stagedoor_reserve_seats is the only writer, and inserts only
-- the rows its conditional seat UPDATE returned, for the user the gateway authenticated. The two
-- per-row checks were a quarter of that function's CPU; stagedoor_refuse_losing_rows keeps what
-- they also guarded (a named user or seat is never deleted or renumbered).
CREATE TABLE reservations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint      NOT NULL,
    schedule_id     bigint      NOT NULL,
    seat_no         integer     NOT NULL,
    status          text        NOT NULL CHECK (status IN ('held', 'paid', 'expired', 'cancelled')),
    price           bigint      NOT NULL CHECK (price >= 0),
    hold_expires_at timestamptz NOT NULL,
    paid_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE INDEX reservations_user_idx ON reservations (user_id, id);
-- A user's live holds in a schedule (the hold limit), counted from the index alone: with the expiry
-- in it, it is the planner's choice with or without statistics on a freshly filled table.
CREATE INDEX reservations_user_schedule_live_idx ON reservations (user_id, schedule_id, hold_expires_at) WHERE status = 'held';
-- Never two live holds nor two sales of one seat, whatever the code does.
CREATE UNIQUE INDEX reservations_one_held_per_seat ON reservations (schedule_id, seat_no) WHERE status = 'held';
CREATE UNIQUE INDEX reservations_one_paid_per_seat ON reservations (schedule_id, seat_no) WHERE status = 'paid';

CREATE TABLE payments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reservation_id bigint      NOT NULL UNIQUE REFERENCES reservations (id),
    user_id        bigint      NOT NULL REFERENCES users (id),
    amount         bigint      NOT NULL CHECK (amount >= 0),
    paid_at        timestamptz NOT NULL DEFAULT now()
);

-- ── The waiting room ────────────────────────────────────────────────────────────────────────────

-- `seq` orders the line; only the token secret's SHA-256 is stored.
CREATE SEQUENCE queue_token_seq AS bigint;
CREATE TABLE queue_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint      NOT NULL REFERENCES users (id),
    token_hash   bytea       NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    -- The token is HMAC(api key, salt): re-derivable for its owner, never stored itself.
    salt         bytea       NOT NULL CHECK (octet_length(salt) = 16),
    seq          bigint      NOT NULL UNIQUE DEFAULT nextval('queue_token_seq'),
    status       text        NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'active', 'done', 'expired')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    expires_at   timestamptz,
    ended_at     timestamptz
);
ALTER SEQUENCE queue_token_seq OWNED BY queue_tokens.seq;
-- One live (waiting or active) token per user.
CREATE UNIQUE INDEX queue_tokens_one_live_per_user ON queue_tokens (user_id) WHERE status IN ('waiting', 'active');
CREATE INDEX queue_tokens_waiting_idx ON queue_tokens (seq) WHERE status = 'waiting';
CREATE INDEX queue_tokens_waiting_seen_idx ON queue_tokens (last_seen_at) WHERE status = 'waiting';
CREATE INDEX queue_tokens_active_expiry_idx ON queue_tokens (expires_at) WHERE status = 'active';

-- The waiting room's shared state, one row, written by the admission leader each tick.
-- `admitted_through` is the highest seq admission has passed: a token's position is seq − admitted_through.
CREATE TABLE waiting_room (
    id               integer     PRIMARY KEY CHECK (id = 1),
    admitted_through bigint      NOT NULL DEFAULT 0,
    active_count     integer     NOT NULL DEFAULT 0,
    admit_per_second double precision NOT NULL DEFAULT 50 CHECK (admit_per_second > 0),
    max_active       integer     NOT NULL DEFAULT 2000 CHECK (max_active > 0),
    idle_ttl_seconds double precision NOT NULL DEFAULT 120 CHECK (idle_ttl_seconds > 0),
    last_tick_at     timestamptz
);
INSERT INTO waiting_room (id) VALUES (1);

-- ── The job queue ───────────────────────────────────────────────────────────────────────────────

-- Producers insert (stagedoor_insert_jobs); workers claim with FOR UPDATE SKIP LOCKED. Knows job
-- kinds as strings and payloads as JSON, nothing of what they mean.
CREATE TABLE jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text        NOT NULL,
    payload         jsonb       NOT NULL,
    state           text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'succeeded', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
    run_at          timestamptz NOT NULL DEFAULT now(),
    user_id         bigint,
    idempotency_key text,
    request_hash    bytea,
    response_status integer,
    response_body   jsonb,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CHECK ((state = 'queued') = (finished_at IS NULL))
) WITH (
    -- A hot queue: room for HOT updates, and vacuumed long before dead rows pile up.
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 0
);
-- Exactly what the claim reads: queued rows in id order.
CREATE INDEX jobs_claim_idx ON jobs (id) WHERE state = 'queued';
CREATE INDEX jobs_retention_idx ON jobs (finished_at) WHERE state = 'succeeded';
-- Dead jobs are rare, so this index is tiny; the metrics count them every few seconds.
CREATE INDEX jobs_dead_idx ON jobs (id) WHERE state = 'dead';
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL;
