-- The enqueue refuses a reservation of a seat that is certainly taken, at once, as a finished job.
--
-- In a flash crowd most reservations are for seats someone already holds: in the hot-seat
-- benchmark (`make bench`), 9,999 of 10,000. Each went through the whole job path — queued,
-- claimed, decided by stagedoor_reserve_seats (005), finished, `job_done`, handed to its gateway —
-- only to be refused, and the doomed jobs queued in front of reservations of free seats.
--
-- A job may now carry a seat check (schedule, seat, the hold limit) and the refusal to store if it
-- fails. The enqueue stores that job already finished with that refusal, and wakes no worker for
-- it, when its snapshot shows what the worker would refuse with `seat_unavailable`: the schedule
-- exists, the seat is in range, the user is under the hold limit (else the worker answers
-- `already_reserved` first), and the seat is sold or held by a live hold. In every other case the
-- job is queued as before and the worker's conditional UPDATE decides; the enqueue never grants
-- anything. The refusal is a real job row: an idempotent replay gets the same answer, and
-- `GET /v1/jobs/{id}` shows it.
--
-- The answer is the enqueue's snapshot's, as if the request had been decided the moment it
-- arrived: a hold that lapses or is cancelled a millisecond later does not turn it into a grant.
--
-- The 9-argument procedure of 007 stays, for gateways of the previous release during a rolling
-- upgrade: it calls this one without seat checks.
CREATE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_has_keys bool[], p_keys text[],
    p_hashes bytea[], p_max_attempts integer[], p_notify bool, p_gates bytea[],
    p_seat_schedules bigint[], p_seat_nos integer[], p_max_holds integer[], p_refusal_statuses integer[], p_refusal_bodies text[],
    OUT o_created bool[], OUT o_ids bigint[], OUT o_gates text[], OUT o_statuses integer[], OUT o_bodies text[])
LANGUAGE plpgsql
AS $$
BEGIN
    WITH gated AS (
        SELECT r.n, r.kind, r.payload, NULLIF(r.user_id, -1) AS user_id,
               CASE WHEN r.has_key THEN r.key END AS key, NULLIF(r.hash, ''::bytea) AS hash, r.max_attempts,
               CASE WHEN r.gate <> ''::bytea THEN COALESCE((
                   SELECT CASE WHEN q.user_id = r.user_id
                               THEN stagedoor_token_status(q.status, q.expires_at, q.last_seen_at, w.idle_ttl_seconds)
                               ELSE 'invalid' END
                   FROM queue_tokens q CROSS JOIN waiting_room w
                   WHERE q.token_hash = r.gate AND w.id = 1 LIMIT 1), 'invalid') END AS gate,
               r.seat_schedule, r.seat_no, r.max_holds, r.refusal_status, r.refusal_body,
               nextval('jobs_id_seq'::regclass) AS id
        FROM unnest(p_kinds, p_payloads, p_user_ids, p_has_keys, p_keys, p_hashes, p_max_attempts, p_gates,
                    p_seat_schedules, p_seat_nos, p_max_holds, p_refusal_statuses, p_refusal_bodies)
             WITH ORDINALITY AS r(kind, payload, user_id, has_key, key, hash, max_attempts, gate,
                                  seat_schedule, seat_no, max_holds, refusal_status, refusal_body, n)
    ), req AS (
        -- The checks of stagedoor_reserve_seats (005) up to seat_unavailable, in its order, on this
        -- statement's snapshot.
        SELECT g.*, g.seat_schedule > 0 AND (g.gate IS NULL OR g.gate = 'active') AND EXISTS (
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
        WHERE req.gate IS NULL OR req.gate = 'active'
        ORDER BY req.n
        ON CONFLICT (user_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING jobs.id, jobs.state, jobs.response_status, jobs.response_body::text AS body
    ), woken AS (
        SELECT pg_notify('jobs', '') WHERE p_notify AND EXISTS (SELECT 1 FROM inserted WHERE inserted.state = 'queued')
    ), answers AS (
        SELECT r.n, i.id IS NOT NULL AS created,
               COALESCE(i.id, CASE WHEN r.key IS NOT NULL AND (r.gate IS NULL OR r.gate = 'active') THEN (
                   SELECT j.id FROM jobs j
                   WHERE j.user_id = r.user_id AND j.kind = r.kind AND j.idempotency_key = r.key) END, 0) AS id,
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

CREATE OR REPLACE PROCEDURE stagedoor_enqueue_jobs(
    p_kinds text[], p_payloads text[], p_user_ids bigint[], p_has_keys bool[], p_keys text[],
    p_hashes bytea[], p_max_attempts integer[], p_notify bool, p_gates bytea[],
    OUT o_created bool[], OUT o_ids bigint[], OUT o_gates text[])
LANGUAGE plpgsql
AS $$
DECLARE
    jobs integer := coalesce(array_length(p_kinds, 1), 0);
    statuses integer[];
    bodies text[];
BEGIN
    CALL stagedoor_enqueue_jobs(
        p_kinds, p_payloads, p_user_ids, p_has_keys, p_keys, p_hashes, p_max_attempts, p_notify, p_gates,
        array_fill(0::bigint, ARRAY[jobs]), array_fill(0, ARRAY[jobs]), array_fill(0, ARRAY[jobs]),
        array_fill(0, ARRAY[jobs]), array_fill(''::text, ARRAY[jobs]),
        o_created, o_ids, o_gates, statuses, bodies);
END
$$;
