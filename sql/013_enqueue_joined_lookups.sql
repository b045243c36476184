-- The enqueue's seat check joined once per batch, and the waiting room read once per statement.
--
-- 012's statement looked up each reservation's schedule and seat in a correlated subquery. The
-- schedules table is small, so the planner read it with a sequential scan, and a subquery reruns
-- its scan for every job: with 120 schedules in the benchmark database, pg_stat_user_tables counted
-- 6.4 million schedule rows read for 54,000 enqueued reservations. The waiting room's one row was
-- scanned again for every gated job too, each rescan asking the kernel for the table's size.
--
-- Now the schedule and seat of the jobs that carry a seat check are one join (seats probed by
-- their index, schedules by theirs or read once), and other jobs are not looked up at all; the
-- waiting room's idle TTL is read once per statement; the queue token stays a subquery that runs
-- only for a job with a gate (one probe of its unique index).
--
-- Measured with pgbench, one client, CALLs of 32 jobs, a database of 120 schedules × 1,000 seats,
-- 6 s each, two rounds taking turns: reservations of free seats (no gate) 1,385–1,399 calls/s
-- against 980–986 with 012; plain jobs (no gate, no seat) 1,852–1,862 against 1,898–1,903. A first
-- version that joined the token, seat and schedule of every job gave 1,353–1,369 and 1,598–1,603:
-- plain jobs paid for lookups they do not need.
--
-- Same arguments, same answers as 012's procedure, which this replaces.
CREATE OR REPLACE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_has_keys bool[], p_keys text[],
    p_hashes bytea[], p_max_attempts integer[], p_notify bool, p_gates bytea[],
    p_seat_schedules bigint[], p_seat_nos integer[], p_max_holds integer[], p_refusal_statuses integer[], p_refusal_bodies text[],
    OUT o_created bool[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
LANGUAGE plpgsql
AS $$
BEGIN
    WITH given AS (
        SELECT r.n, r.kind, r.payload, NULLIF(r.user_id, -1) AS user_id,
               CASE WHEN r.has_key THEN r.key END AS key, NULLIF(r.hash, ''::bytea) AS hash, r.max_attempts, r.gate,
               r.seat_schedule, r.seat_no, r.max_holds, r.refusal_status, r.refusal_body
        FROM unnest(p_kinds, p_payloads, p_user_ids, p_has_keys, p_keys, p_hashes, p_max_attempts, p_gates,
                    p_seat_schedules, p_seat_nos, p_max_holds, p_refusal_statuses, p_refusal_bodies)
             WITH ORDINALITY AS r(kind, payload, user_id, has_key, key, hash, max_attempts, gate,
                                  seat_schedule, seat_no, max_holds, refusal_status, refusal_body, n)
    ), keyed AS (
        -- The job that already has this key, if this statement's snapshot sees one (a unique-index probe).
        SELECT g.*, CASE WHEN g.key IS NOT NULL THEN (
                   SELECT j.id FROM jobs j WHERE j.user_id = g.user_id AND j.kind = g.kind AND j.idempotency_key = g.key
               ) END AS existing
        FROM given g
    ), gated AS (
        -- The queue token: one index probe, only for a job that has a gate; the waiting room's
        -- idle TTL read once per statement.
        SELECT k.n, k.kind, k.payload, k.user_id, k.key, k.hash, k.max_attempts, k.existing,
               CASE WHEN k.existing IS NULL AND k.gate <> ''::bytea THEN COALESCE((
                   SELECT CASE WHEN q.user_id = k.user_id AND room.idle_ttl_seconds IS NOT NULL
                               THEN stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, room.idle_ttl_seconds)
                               ELSE 'invalid' END
                   FROM queue_tokens q WHERE q.token_hash = k.gate), 'invalid') END AS gate,
               k.seat_schedule, k.seat_no, k.max_holds, k.refusal_status, k.refusal_body,
               nextval('jobs_id_seq'::regclass) AS id
        FROM keyed k
        CROSS JOIN (SELECT (SELECT w.idle_ttl_seconds FROM waiting_room w WHERE w.id = 1) AS idle_ttl_seconds) room
    ), seats_seen AS (
        -- The schedule and seat of each reservation that passed its gate, joined: a small table is
        -- read once per batch, a big one probed by its index; other jobs are not looked up.
        SELECT g.n, sc.total_seats, st.status, st.hold_expires_at
        FROM gated g
        JOIN schedules sc ON sc.id = g.seat_schedule
        JOIN seats st ON st.schedule_id = g.seat_schedule AND st.seat_no = g.seat_no
        WHERE g.seat_schedule > 0 AND g.existing IS NULL AND (g.gate IS NULL OR g.gate = 'active')
    ), req AS (
        -- The checks of stagedoor_reserve_seats (005) up to seat_unavailable, in its order, on this
        -- statement's snapshot (as in 011); no such schedule or seat is not refused.
        SELECT g.*, COALESCE(s.n IS NOT NULL AND g.seat_no BETWEEN 1 AND s.total_seats
                   AND (s.status = 'sold' OR (s.status = 'held' AND s.hold_expires_at >= now()))
                   AND (SELECT count(*) FROM reservations rv
                        WHERE rv.user_id = g.user_id AND rv.schedule_id = g.seat_schedule
                          AND rv.status = 'held' AND rv.hold_expires_at > now()) < g.max_holds, false) AS refused
        FROM gated g
        LEFT JOIN seats_seen s ON s.n = g.n
    ), inserted AS (
        INSERT INTO jobs (id, kind, payload, user_id, idempotency_key, request_hash, max_attempts,
                          state, started_at, finished_at, response_status, response_body)
        OVERRIDING SYSTEM VALUE
        SELECT req.id, req.kind, req.payload::jsonb, req.user_id, req.key, req.hash, req.max_attempts,
               CASE WHEN req.refused THEN 'succeeded' ELSE 'queued' END,
               CASE WHEN req.refused THEN now() END,
               CASE WHEN req.refused THEN clock_timestamp() END,
               CASE WHEN req.refused THEN req.refusal_status END,
               CASE WHEN req.refused THEN req.refusal_body::jsonb END
        FROM req
        WHERE req.existing IS NULL AND (req.gate IS NULL OR req.gate = 'active')
        ORDER BY req.n
        ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING jobs.id, jobs.state, jobs.response_status, jobs.response_body::text AS body
    ), woken AS (
        SELECT pg_notify('jobs', '') WHERE p_notify AND EXISTS (SELECT 1 FROM inserted WHERE inserted.state = 'queued')
    ), answers AS (
        -- A key taken by a transaction this snapshot cannot see (or by an earlier job of this
        -- batch) is not inserted and not found: id 0, and the caller tries again.
        SELECT r.n, i.id IS NOT NULL AS created,
               COALESCE(i.id, r.existing, 0) AS id,
               COALESCE(r.gate, '') AS gate,
               COALESCE(i.response_status, 0) AS status, COALESCE(i.body, '') AS body
        FROM req r
        LEFT JOIN inserted i ON i.id = r.id
        WHERE (SELECT count(*) FROM woken) >= 0
    )
    SELECT array_agg(a.created ORDER BY a.n), array_agg(a.id ORDER BY a.n), array_agg(a.gate ORDER BY a.n),
           array_agg(a.status ORDER BY a.n), array_agg(a.body ORDER BY a.n)
    INTO o_created, o_ids, o_gates, o_statuses, o_bodies
    FROM answers a;
    COMMIT;
END
$$;
