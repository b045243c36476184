-- The enqueue answers a replay first: a job whose Idempotency-Key this user already used for this
-- kind gets that job back before its queue gate or seat check is looked at.
--
-- API.md answers a replay right after authentication, before the queue-token check (a retried
-- payment gets its first outcome although the token is now `done`). The gateway did that with a
-- lookup of its own before the enqueue: a second round trip, unbatched, for every write that
-- carried a key — the writes of every client that retries safely. In the booking benchmark's closed
-- loop, reservations with a key each booked 1,900/s against 4,000–4,400/s without (2026-12-02,
-- back to back), at 2.4× the gateway's and PostgreSQL's CPU per reservation. The gateway now sends
-- a keyed write straight to the enqueue, and looks the key up itself only for a write it refuses
-- before the enqueue (a bad body, no queue token), where the replay must still win.
--
-- Same arguments and answers as 011's procedure, which this replaces: per job, in input order,
-- whether it was inserted, its id (or the id of the job that already had its key; 0 for none), its
-- gate's status ('' for none or for a replay) and the outcome a seat check stored it with.
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
        SELECT k.n, k.kind, k.payload, k.user_id, k.key, k.hash, k.max_attempts, k.existing,
               CASE WHEN k.existing IS NULL AND k.gate <> ''::bytea THEN COALESCE((
                   SELECT CASE WHEN q.user_id = k.user_id
                               THEN stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, w.idle_ttl_seconds)
                               ELSE 'invalid' END
                   FROM queue_tokens q CROSS JOIN waiting_room w
                   WHERE q.token_hash = k.gate AND w.id = 1 LIMIT 1), 'invalid') END AS gate,
               k.seat_schedule, k.seat_no, k.max_holds, k.refusal_status, k.refusal_body,
               nextval('jobs_id_seq'::regclass) AS id
        FROM keyed k
    ), req AS (
        -- The checks of stagedoor_reserve_seats (005) up to seat_unavailable, in its order, on this
        -- statement's snapshot (as in 011).
        SELECT g.*, g.existing IS NULL AND g.seat_schedule > 0 AND (g.gate IS NULL OR g.gate = 'active') AND EXISTS (
                   SELECT 1 FROM schedules sc JOIN seats st ON st.schedule_id = sc.id AND st.seat_no = g.seat_no
                   WHERE sc.id = g.seat_schedule AND g.seat_no BETWEEN 1 AND sc.total_seats
                     AND (st.status = 'sold' OR (st.status = 'held' AND st.hold_expires_at >= now()))
                     AND (SELECT count(*) FROM reservations rv
                          WHERE rv.user_id = g.user_id AND rv.schedule_id = g.seat_schedule
                            AND rv.status = 'held' AND rv.hold_expires_at > now()) < g.max_holds) AS refused
        FROM gated g
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
