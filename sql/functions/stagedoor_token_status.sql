-- A queue token's status as clients see it, the one statement of this rule: a token past its TTL is
-- expired even before the queue worker marks it (active past `expires_at`; waiting in line and not
-- polled within its room's idle TTL). A token in the pre-queue (its room still `scheduled`) never
-- expires as idle: the idle TTL counts from the opening. The gateway's token reads return it, and
-- the queue gate of a booking enqueue (stagedoor_enqueue_booking_jobs) applies it. A plain SQL
-- expression, inlined by the planner.
CREATE OR REPLACE FUNCTION stagedoor_token_status(
    status text, expires_at timestamptz, last_seen_at timestamptz, idle_ttl_seconds double precision, room_state text
) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN status = 'active' AND expires_at <= now() THEN 'expired'
        WHEN status = 'waiting' AND room_state <> 'scheduled'
             AND last_seen_at < now() - make_interval(secs => idle_ttl_seconds) THEN 'expired'
        ELSE status
    END
$$;
